"""Property: the planner converges against the simulator.

A VM is created from a random spec A and driven to it; then the spec becomes a random B (other
power state, cpu, memory, os, disks attached and detached, NICs, qos, cdrom, boot order) and the
VM is driven again. Each round is what the controller does, in process: inspect -> plan ->
perform every call -> let the fake clock move. Within a few rounds every plan must settle (no
calls, nothing to wait for) with the declared power state and shape, and the simulator must
never answer a call with an scode error. A shape that differs when it settles must be listed in
pendingChanges, and only where the update policy allows waiting for a power cycle.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.simulation import CLUSTER, POOL, PORT_GROUP, TENANT, FakeClock, make_platform
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute import ComputeClient, ComputeSettings, RetryPolicy
from vmop.compute.dispatch import perform
from vmop.compute.errors import ComputeError
from vmop.compute.models import ComputeIdentifier, ComputeInspectInfo, CreateResult
from vmop.compute.requests import ListQuery
from vmop.reconcile.changes import Owned
from vmop.reconcile.observed import Observed, from_inspect, from_list
from vmop.reconcile.power import current_power
from vmop.reconcile.virtualmachine import Context, Memory, Plan, plan_virtual_machine
from vmop.sim.app import create_app
from vmop.sim.platform import Platform
from vmop.sim.world import Volume

NAME = "converge"
OBJECT_UID = "9a1f5c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
ROUNDS = 12
TICK = 2.0  # seconds per round: longer than the simulator's boot and guest shutdown
GIB = 1024**3
MEMORIES = {"512Mi": GIB // 2, "1Gi": GIB, "2Gi": 2 * GIB}
OSES = ("CentOS x64", "Ubuntu x64", "Windows Server 2019")
DEVICES = {"scsi": ["sda", "sdb", "sdc", "sdd"], "virtio": ["vda", "vdb", "vdc", "vdd"]}
FREE_VOLUMES = ["f0000001-0000-4000-8000-000000000001", "f0000002-0000-4000-8000-000000000002"]
SPEC_MACS = ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"]
CDROM = {"image": "centos7x64.iso", "repository": "c5c6e82d-e7ea-47bc-b422-f2d9c767b080"}
POWER_STATES = ["Running", "Stopped", "Suspended", "Hibernated"]
# Which pendingChanges entries account for a difference of each kind.
PENDING_PREFIX = {
    "cpu": "cpu.",
    "memory": "memory",
    "disks": "disks[",
    "os": "os",
    "interfaces": "interfaces[",
    "cdrom": "cdrom",
    "meta": "meta",
    "bootOrder": "bootOrder",
}


# ---------------------------------------------------------------- strategies


def qos() -> st.SearchStrategy[dict[str, Any] | None]:
    bound = st.fixed_dictionaries({"average": st.integers(0, 2), "peak": st.integers(0, 2), "burst": st.integers(0, 2)})
    return st.none() | st.fixed_dictionaries({"inbound": bound, "outbound": bound})


@st.composite
def common(draw: st.DrawFn) -> dict[str, Any]:
    sockets, cores = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cpu: dict[str, Any] = {"sockets": sockets, "cores": cores}
    if draw(st.booleans()):
        cpu["current"] = draw(st.integers(1, sockets * cores))
    fields: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "name": NAME,
        "cpu": cpu,
        "memory": draw(st.sampled_from(sorted(MEMORIES))),
        "os": draw(st.sampled_from(OSES)),
        "haMode": draw(st.sampled_from(["on", "off"])),
        "powerState": draw(st.sampled_from(POWER_STATES)),
        "updatePolicy": draw(st.sampled_from(["OnPowerCycle", "Restart"])),
        "shutdownTimeoutSeconds": draw(st.sampled_from([0, 30])),
    }
    if draw(st.booleans()):
        fields["cdrom"] = CDROM
    return fields


def nic(name: str, mac: str | None, limits: dict[str, Any] | None) -> dict[str, Any]:
    made: dict[str, Any] = {"name": name, "network": "ycb123", "portGroup": PORT_GROUP}
    if mac:
        made["mac"] = mac
    if limits:
        made["qos"] = limits
    return made


def boot_order(draw: st.DrawFn, disks: list[dict[str, Any]], nics: list[dict[str, Any]]) -> list[str] | None:
    if not draw(st.booleans()):
        return None
    names = draw(st.permutations([d["name"] for d in disks] + [n["name"] for n in nics]))
    return list(names[: draw(st.integers(1, len(names)))])


@st.composite
def first_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Spec A: new disks on named devices (so B can name free and freed ones), NICs."""
    fields = draw(common())
    disks, used = [], set()
    for index in range(draw(st.integers(1, 3))):
        bus = draw(st.sampled_from(["scsi", "virtio"]))
        device = draw(st.sampled_from([d for d in DEVICES[bus] if d not in used]))
        used.add(device)
        disks.append({"name": f"disk{index}", "size": "1Gi", "pool": POOL, "bus": bus, "device": device})
    nics = [
        nic(f"eth{i}", draw(st.none() | st.just(SPEC_MACS[i])), draw(qos())) for i in range(draw(st.integers(0, 2)))
    ]
    fields.update(disks=disks, interfaces=nics, bootOrder=boot_order(draw, disks, nics))
    return fields


@st.composite
def second_specs(draw: st.DrawFn, first: dict[str, Any]) -> dict[str, Any]:
    """Spec B: A's disks and NICs kept or dropped, existing volumes and a NIC (own MAC) added."""
    fields = draw(common())
    if draw(st.booleans()):  # same topology: only the vCPUs online change (hot up, cold down)
        sockets, cores = first["cpu"]["sockets"], first["cpu"]["cores"]
        fields["cpu"] = {"sockets": sockets, "cores": cores, "current": draw(st.integers(1, sockets * cores))}
    kept = [d for d in first["disks"] if draw(st.booleans())]
    used = {d["device"] for d in kept}
    added = []
    for index, volume in enumerate(FREE_VOLUMES[: draw(st.integers(0 if kept else 1, len(FREE_VOLUMES)))]):
        bus = draw(st.sampled_from(["scsi", "virtio"]))
        free = [d for d in DEVICES[bus] if d not in used]
        device = draw(st.none() | st.sampled_from(free)) if free else None
        disk: dict[str, Any] = {"name": f"extra{index}", "volume": volume, "bus": bus}
        if device:
            used.add(device)
            disk["device"] = device
        added.append(disk)
    nics = [nic(n["name"], n.get("mac"), draw(qos())) if draw(st.booleans()) else None for n in first["interfaces"]]
    kept_nics = [n for n in nics if n is not None]
    if draw(st.booleans()):
        kept_nics.append(nic("eth9", SPEC_MACS[2], draw(qos())))
    disks = kept + added
    fields.update(disks=disks, interfaces=kept_nics, bootOrder=boot_order(draw, disks, kept_nics))
    return fields


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[VirtualMachineSpec, VirtualMachineSpec]:
    first = draw(first_specs())
    second = draw(second_specs(first))
    return VirtualMachineSpec.model_validate(first), VirtualMachineSpec.model_validate(second)


# ---------------------------------------------------------------- the loop the controller runs


def after_create(memory: Memory, spec: VirtualMachineSpec, result: CreateResult) -> Memory:
    """Which volume and MAC the create made for which disk and NIC (in request order)."""
    volumes = iter(result.volume_uuids)  # only the volumes it made
    disks = {d.name: d.volume or next(volumes) for d in spec.disks}
    nics = dict(zip([n.name for n in spec.interfaces], result.mac_addresses, strict=True))  # every NIC's
    return replace(memory, uuid=result.vm_uuid, create_pending_since=None, owned=Owned(disks, nics))


@dataclass
class Driver:
    client: ComputeClient
    clock: FakeClock
    memory: Memory
    trace: list[str]

    async def observe(self) -> tuple[Observed | None, list[Observed], ComputeInspectInfo | None]:
        if self.memory.uuid is None:
            query = ListQuery(cluster_uuid=CLUSTER, tenant=TENANT, filter_name=NAME)
            return None, [from_list(vm) for vm in (await self.client.list_vms(query)).domains], None
        ident = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=self.memory.uuid)
        info = await self.client.inspect(ident)
        return from_inspect(info), [], info

    async def settle(self, spec: VirtualMachineSpec) -> tuple[Plan, Observed, ComputeInspectInfo]:
        """Rounds until a plan has no calls and nothing to wait for; fails on any scode."""
        for _ in range(ROUNDS):
            vm, same_name, info = await self.observe()
            ctx = Context(object_uid=OBJECT_UID, platform_name=NAME, group=None, now=self.clock())
            plan = plan_virtual_machine(spec, ctx, self.memory, vm, same_name)
            self.trace.append(f"{vm.state if vm else '-'}/{vm.action if vm else '-'}: {[str(c) for c in plan.calls]}")
            self.memory = plan.memory
            if not plan.calls and plan.requeue_after is None:
                assert vm is not None and info is not None
                return plan, vm, info
            for call in plan.calls:
                try:
                    result = await perform(self.client, call.operation, call.request)
                except ComputeError as error:
                    pytest.fail(f"{call} was refused: {error}\n" + "\n".join(self.trace))
                if call.operation == "unified_create":
                    assert isinstance(result, CreateResult)
                    self.memory = after_create(self.memory, spec, result)
            self.clock.advance(TICK)
        pytest.fail(f"not settled within {ROUNDS} rounds:\n" + "\n".join(self.trace))


# ---------------------------------------------------------------- what "converged" means


def differences(spec: VirtualMachineSpec, info: ComputeInspectInfo, owned: Owned) -> set[str]:
    """Kinds of difference between the spec and what the simulator shows."""
    found = set()
    cpu = spec.cpu
    if (info.cpu_sockets, info.cpu_socket_cores, info.cpu_current) != (
        cpu.sockets,
        cpu.cores,
        cpu.current or cpu.sockets * cpu.cores,
    ):
        found.add("cpu")
    if info.mem_size != MEMORIES[spec.memory]:
        found.add("memory")
    if info.os != spec.os:
        found.add("os")
    volumes = {d.volume or owned.disks[d.name] for d in spec.disks}
    by_volume = {d.volume_uuid(): d.disk_target_device for d in info.disks}
    if set(by_volume) != volumes:
        found.add("disks")

    def limits(inbound: Any, outbound: Any) -> tuple[int, ...]:
        return tuple(getattr(b, k) if b else 0 for b in (inbound, outbound) for k in ("average", "peak", "burst"))

    wanted_nics = {
        (n.mac or owned.nics[n.name], *limits(n.qos.inbound if n.qos else None, n.qos.outbound if n.qos else None))
        for n in spec.interfaces
    }
    if {(n.mac_address, *limits(n.in_bount, n.out_bount)) for n in info.interfaces} != wanted_nics:
        found.add("interfaces")
    if (info.cdrom or {}).get("name", "") != (spec.cdrom.image if spec.cdrom else ""):
        found.add("cdrom")
    if info.ha_mode != spec.ha_mode or info.name != NAME:
        found.add("meta")
    if "disks" not in found and spec.boot_order:
        macs = {n.name: n.mac or owned.nics[n.name] for n in spec.interfaces}
        disks = {d.name: by_volume[d.volume or owned.disks[d.name]] for d in spec.disks}
        order = [disks.get(name) or macs[name] for name in spec.boot_order]
        if info.device_order[: len(order)] != order:
            found.add("bootOrder")
    return found


def assert_converged(
    spec: VirtualMachineSpec, plan: Plan, vm: Observed, info: ComputeInspectInfo, owned: Owned
) -> None:
    """Declared power state; and the declared shape, except what the plan lists as pending where
    waiting is allowed: a running VM keeps its cold changes (unless updatePolicy is Restart), a
    suspended or hibernated one every change; a stopped one none."""
    assert current_power(vm) == spec.power_state, (vm.state, vm.action)
    assert plan.verdict.synced is not False, plan.verdict.message
    assert plan.verdict.ready, plan.verdict.message
    left = differences(spec, info, owned)
    for kind in left:
        assert any(f.startswith(PENDING_PREFIX[kind]) for f in plan.pending_changes), (kind, plan.pending_changes)
    if spec.power_state == "Stopped" or (spec.power_state == "Running" and spec.update_policy == "Restart"):
        assert not left, f"{spec.power_state} ({spec.update_policy}) left {left}"
    if spec.power_state == "Running":
        assert left <= {"cpu", "memory", "disks", "os"}, f"hot changes not applied: {left}"
        cpu = spec.cpu
        if "cpu" in left and (info.cpu_sockets, info.cpu_socket_cores) == (cpu.sockets, cpu.cores):
            assert info.cpu_current > (cpu.current or cpu.sockets * cpu.cores), "cpu_current not raised hot"
        if "memory" in left:
            assert info.mem_size > MEMORIES[spec.memory], "memory not hot-added"


# ---------------------------------------------------------------- the property


async def converge(first: VirtualMachineSpec, second: VirtualMachineSpec) -> None:
    clock = FakeClock()
    platform: Platform = make_platform(clock)
    for volume in FREE_VOLUMES:
        platform.world.volumes[volume] = Volume(volume, f"free-{volume[:8]}", POOL, GIB, CLUSTER)
    settings_ = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=1, base_delay=0.001))
    async with ComputeClient(settings_, transport=httpx.ASGITransport(app=create_app(platform))) as client:
        driver = Driver(client, clock, Memory(), [])
        for spec in (first, second):
            driver.trace.append(f"--- spec power={spec.power_state} policy={spec.update_policy}")
            plan, vm, info = await driver.settle(spec)
            assert_converged(spec, plan, vm, info, driver.memory.owned)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_the_planner_converges_against_the_simulator(scenario: tuple[VirtualMachineSpec, VirtualMachineSpec]) -> None:
    asyncio.run(converge(*scenario))


def test_a_scenario_that_replaces_a_virtio_disk_on_its_device_converges() -> None:
    """The case that found the attach-before-detach bug, kept as an example."""
    first = VirtualMachineSpec.model_validate(
        {
            "cluster": CLUSTER,
            "tenant": TENANT,
            "name": NAME,
            "disks": [
                {"name": "root", "size": "1Gi", "pool": POOL, "bus": "virtio", "device": "vda"},
                {"name": "data", "size": "1Gi", "pool": POOL, "bus": "virtio", "device": "vdb"},
            ],
        }
    )
    second = first.model_copy(
        update={
            "disks": [
                first.disks[0],
                first.disks[1].model_copy(
                    update={"name": "new", "size": None, "pool": None, "volume": FREE_VOLUMES[0]}
                ),
            ],
            "update_policy": "Restart",
        }
    )
    asyncio.run(converge(first, second))
