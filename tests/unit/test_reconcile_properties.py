"""Property: for any valid spec and any state the platform can show, no plan contains a call the
compute API doc forbids in that state.

The oracle below is written from ../shared/notes/compute-rules.md (the doc's digest) alone; it
imports nothing from the planner or from vmop.compute.rules, so a rule both get wrong the same
way cannot hide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.reconcile import NOW, VM_UUID, context
from tests.support.simulation import CLUSTER, POOL, PORT_GROUP, TENANT
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import RequestModel
from vmop.reconcile.calls import Call
from vmop.reconcile.changes import Owned
from vmop.reconcile.deletion import plan_vm_deletion
from vmop.reconcile.observed import Observed, ObservedDisk, ObservedMdev, ObservedNic, Shape
from vmop.reconcile.virtualmachine import Memory, plan_virtual_machine

# ---------------------------------------------------------------- the doc's values

STATES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspend")
ACTIONS = ("noaction", "cloning", "save", "migrating", "pending", "importing", "restoring", "exporting")
AGENTS = ("connected", "disconnected", "pending")
BUSY = frozenset({"cloning", "migrating", "pending", "importing", "restoring", "exporting"})
GIB = 1024**3
POWER_CALLS = frozenset(
    {"start", "shutdown", "shutoff", "reboot", "reboot_ga", "reset", "suspend", "resume", "save", "restore"}
)
DEVICES = {"scsi": [f"sd{c}" for c in "abcdef"], "virtio": [f"vd{c}" for c in "abcdef"], "ide": ["hda", "hdb", "hdc"]}
VOLUMES = [f"{i:08x}-0000-4000-8000-00000000000{i % 10}" for i in range(1, 9)]
MACS = [f"52:56:ff:00:01:{i:02x}" for i in range(1, 7)]
OPTIONS_IN_META = frozenset({"os_loader_path", "vnc_enable", "panic_model", "mem_sec_enabled"})
BASELINES = ("Haswell-noTSX", "Skylake")
ZONES = ("2871bab9-d6ed-4100-8d74-9c4442b52bb5", "a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316")
OSES = ("CentOS x64", "Ubuntu x64", "Windows Server 2019", "Windows 10")
PCI_ADDRESSES = ("0000:3b:00.0", "0000:3b:00.1", "0000:af:1f.7")
MDEVS = ("8a1b7e0c-2f0d-4c1e-9b3a-5d6e7f8a9b0c", "9b2c8f1d-3a1e-4d2f-8c4b-6e7f8a9b0c1d")
COMPRESSIONS = ("off", "glz", "lz4")
STREAMINGS = ("filter", "all", "off")
MEMORIES = {"512Mi": GIB // 2, "1Gi": GIB, "2Gi": 2 * GIB, "3Gi": 3 * GIB}


# ---------------------------------------------------------------- the oracle


def _family(os_name: str) -> str:
    return "windows" if "windows" in os_name.lower() else "other"


@dataclass
class Oracle:
    """The doc's preconditions, checked call by call along a plan (calls run in order)."""

    vm: Observed
    devices: dict[str, str] = field(default_factory=dict)  # device -> bus, as the plan goes
    auto_prefixes: set[str] = field(default_factory=set)  # device families the platform picks from
    ha: str = ""  # the VM's HA mode, as the plan goes
    passthrough: set[str] = field(default_factory=set)  # PCI addresses and mdev uuids it has, as the plan goes

    def __post_init__(self) -> None:
        shape = self.vm.shape
        self.devices = {d.device: d.bus for d in shape.disks} if shape else {}
        self.ha = shape.ha_mode if shape else ""
        self.passthrough = {*shape.pci, *(m.uuid for m in shape.mdevs)} if shape else set()

    def check(self, call: Call) -> str | None:
        """Why the doc forbids this call now, or None when it allows it."""
        vm, op, req = self.vm, call.operation, call.request
        state, action, agent = vm.state, vm.action, vm.agent
        if action in BUSY:
            return f"{op} while the platform is {action}"
        idle = action == "noaction"
        running, off = state == "running" and idle, state == "shutoff" and idle
        needs: dict[str, bool] = {
            "start": off,
            "shutdown": running and agent == "connected",
            "reboot": running and agent == "connected",
            "shutoff": running,
            "reset": running,
            "suspend": running,
            "save": running,
            "resume": state == "paused" and idle,
            "restore": (state == "shutoff" and action == "save") or (state == "pmsuspend" and idle),
            "interface/attach": running or off,
            "interface/detach": running or off,
            "interface/setqos": state in ("running", "shutoff"),
            "cdrom/attach": state in ("running", "shutoff"),
            "cdrom/detach": state in ("running", "shutoff"),
            "bootorder/set": True,
            "delete": True,
            # reboot_ga: as reboot; reset needs no agent.
            "reboot_ga": running and agent == "connected",
            "cpu/reserve": running or off,
            "memory/reserve": off,
            "vgpu/set": off,
            "ip_mac_bind/update": running or off,
            # The doc names no state for balloon/set; vmop promises (api/treatment.py) to send it
            # only to a running VM, the stricter of the readings it knows.
            "balloon/set": running,
        }
        if op in needs:
            return None if needs[op] else f"{op} in state={state} action={action} agent={agent}"
        checks = {
            "pci/attach": self._attach_passthrough,
            "mdev/attach": self._attach_passthrough,
            "pci/detach": self._detach_passthrough,
            "mdev/detach": self._detach_passthrough,
            "vcpu/set": self._vcpu,
            "vmemory/set": self._memory,
            "meta/set": self._meta,
            "disk/attach": self._attach,
            "disk/detach": self._detach,
        }
        if op not in checks:
            return f"{op} is not a call for an existing VM"
        return checks[op](req.model_dump(exclude_unset=True), running, off)

    def _vcpu(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        shape = self.vm.shape
        assert shape is not None
        if {"cpu_sockets", "cpu_socket_cores", "cpu_max"} & req.keys() and not off:
            return "vcpu/set of the topology while not shut off"
        sockets, cores = req.get("cpu_sockets", shape.cpu_sockets), req.get("cpu_socket_cores", shape.cpu_cores)
        current = req.get("cpu_current", shape.cpu_current)
        if current > sockets * cores:
            return f"cpu_current {current} above cpu_max {sockets * cores}"
        if "cpu_current" in req and not (running or off):
            return "vcpu/set of cpu_current while neither running nor shut off"
        if running and current < shape.cpu_current:
            return f"cpu_current lowered while running ({shape.cpu_current} -> {current})"
        return None

    def _memory(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        shape = self.vm.shape
        assert shape is not None
        if req["vmemory"] > 256 * GIB:
            return "vmemory above 256G"
        if not (running or off):
            return "vmemory/set while neither running nor shut off"
        if running and req["vmemory"] < shape.memory:
            return "vmemory lowered while running"
        return None

    @staticmethod
    def _device(req: dict[str, Any]) -> str:
        pci = req.get("pci_device")
        if pci is not None:
            return f"{pci['domain']:04x}:{pci['bus']:02x}:{pci['slot']:02x}.{pci['function']:x}"
        return str(req["mdev_device"]["src_address_uuid"])

    def _attach_passthrough(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        if not running:
            return "a passthrough attach while not running"
        if self.ha != "off":
            return f"a passthrough attach with HA {self.ha} (passthrough and HA exclude each other)"
        self.passthrough.add(self._device(req))
        return None

    def _detach_passthrough(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        device = self._device(req)
        if device not in self.passthrough:
            return f"a detach of {device}, which the VM does not have"
        if not (running or off):
            return "a passthrough detach while neither running nor shut off"
        self.passthrough.discard(device)
        return None

    def _meta(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        ha = (req.get("meta") or {}).get("ha_mode")
        if ha is not None:
            if ha != "off" and self.passthrough:
                return f"meta/set ha_mode {ha} while passthrough devices are attached"
            self.ha = ha
        if "os" in req and _family(req["os"]) != _family(self.vm.os) and not off:
            return f"os family change ({self.vm.os} -> {req['os']}) while not shut off"
        # The doc names no state for these options; vmop promises (api/treatment.py) to send
        # them only to a VM shut off, the strictest state any meta/set item needs.
        options = ({"baseline", "virt_nested_enable"} & req.keys()) | (OPTIONS_IN_META & set(req.get("meta") or {}))
        if options and not off:
            return f"meta/set of {sorted(options)} while not shut off"
        return None

    def _attach(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        if not (running or off):
            return "disk/attach while neither running nor shut off"
        device, bus = req.get("target_device", ""), req.get("target_bus", "")
        if not device and not bus:
            return "disk/attach without target_device or target_bus"
        sources = [
            k for k in ("source_volume", "source_vsd", "disk_block_source", "disk_source_passthrough") if req.get(k)
        ]
        if len(sources) != 1:
            return f"disk/attach with sources {sources}"
        if not device:
            self.auto_prefixes.add({"scsi": "sd", "sata": "sd", "virtio": "vd", "ide": "hd"}[bus])
            return None
        if device in self.devices:
            return f"disk/attach to {device}, which is in use"
        if device[:2] in self.auto_prefixes:
            return f"disk/attach to {device} after an attach the platform assigns a {device[:2]}* device to"
        self.devices[device] = bus
        return None

    def _detach(self, req: dict[str, Any], running: bool, off: bool) -> str | None:
        device = req["target_device"]
        if device not in self.devices:
            return f"disk/detach of {device}, which the VM does not have"
        if not (running or off):
            return "disk/detach while neither running nor shut off"
        if running and self.devices[device] != "scsi":
            return f"hot disk/detach of {device} on {self.devices[device]} (only scsi detaches while running)"
        del self.devices[device]
        return None


def violations(vm: Observed, calls: list[Call]) -> list[str]:
    oracle = Oracle(vm)
    found = [f"{call}: {why}" for call in calls if (why := oracle.check(call)) is not None]
    power = [i for i, c in enumerate(calls) if c.operation in POWER_CALLS]
    if len(power) > 1 or (power and power[0] != len(calls) - 1):
        found.append(f"a power call must be the plan's last and only one: {[c.operation for c in calls]}")
    return found


# ---------------------------------------------------------------- strategies


@st.composite
def cpus(draw: st.DrawFn) -> dict[str, Any]:
    sockets, cores = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    current = draw(st.none() | st.integers(1, sockets * cores))
    return {"sockets": sockets, "cores": cores, **({"current": current} if current else {})}


@st.composite
def spec_disks(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4))
    volumes = draw(st.lists(st.sampled_from(VOLUMES), min_size=count, max_size=count, unique=True))
    disks, used = [], set()
    for index, volume in enumerate(volumes):
        bus = draw(st.sampled_from(["scsi", "virtio", "virtio", "ide"]))
        device = draw(st.none() | st.sampled_from([d for d in DEVICES[bus] if d not in used] or [None]))
        if device:
            used.add(device)
        disk: dict[str, Any] = {"name": f"disk{index}", "bus": bus, **({"device": device} if device else {})}
        disk.update({"volume": volume} if draw(st.booleans()) else {"size": "10Gi", "pool": POOL})
        disks.append(disk)
    return disks


def bandwidth() -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries({"average": st.integers(0, 3), "peak": st.integers(0, 3), "burst": st.integers(0, 3)})


@st.composite
def spec_nics(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 3))
    macs = draw(st.lists(st.sampled_from(MACS), min_size=count, max_size=count, unique=True))
    nics = []
    for index, mac in enumerate(macs):
        nic: dict[str, Any] = {"name": f"eth{index}", "network": "ycb123", "portGroup": PORT_GROUP}
        if draw(st.booleans()):
            nic["mac"] = mac
        if draw(st.booleans()):
            nic["qos"] = {"inbound": draw(bandwidth()), "outbound": draw(bandwidth())}
        nics.append(nic)
    return nics


@st.composite
def specs(draw: st.DrawFn) -> VirtualMachineSpec:
    disks, nics = draw(spec_disks()), draw(spec_nics())
    names = [d["name"] for d in disks] + [n["name"] for n in nics]
    fields: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "cpu": draw(cpus()),
        "memory": draw(st.sampled_from(sorted(MEMORIES))),
        "os": draw(st.sampled_from(OSES)),
        "haMode": draw(st.sampled_from(["on", "off"])),
        "powerState": draw(st.sampled_from(["Running", "Stopped", "Suspended", "Hibernated"])),
        "updatePolicy": draw(st.sampled_from(["OnPowerCycle", "Restart"])),
        "shutdownTimeoutSeconds": draw(st.sampled_from([0, 30, 120])),
        "disks": disks,
        "interfaces": nics,
    }
    if draw(st.booleans()):
        fields["bootOrder"] = draw(st.permutations(names))[: draw(st.integers(1, len(names)))]
    if draw(st.booleans()):
        fields["cdrom"] = {"image": "centos7x64.iso", "repository": "c5c6e82d-e7ea-47bc-b422-f2d9c767b080"}
    if draw(st.booleans()):
        options = {"vnc": st.booleans(), "nestedVirtualization": st.booleans(), "memorySecurity": st.booleans()}
        fields["meta"] = {k: draw(v) for k, v in options.items() if draw(st.booleans())}
        fields["meta"] |= {"panicModel": draw(st.sampled_from(["isa", "none"]))} if draw(st.booleans()) else {}
        fields["meta"] |= {"osLoader": draw(st.sampled_from(["BIOS", "UEFI"]))} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        fields["cpu"] = {**fields["cpu"], "baseline": draw(st.sampled_from(BASELINES))}
    if draw(st.booleans()):
        fields["zone"] = draw(st.sampled_from(ZONES))
    if draw(st.integers(0, 9)) == 0:
        fields["adopt"] = {"uuid": VM_UUID, "observeOnly": draw(st.booleans())}
    if draw(st.booleans()):
        addresses = draw(st.lists(st.sampled_from(PCI_ADDRESSES), max_size=2, unique=True))
        mdevs = draw(st.lists(st.sampled_from(MDEVS), max_size=2, unique=True))
        fields["pci"] = [{"name": f"pci{i}", "address": a} for i, a in enumerate(addresses)]
        fields["mdev"] = [{"name": f"mdev{i}", "uuid": u, "display": draw(st.booleans())} for i, u in enumerate(mdevs)]
        if addresses or mdevs:
            fields["haMode"] = "off"
    if draw(st.booleans()):
        fields["console"] = {
            k: draw(st.sampled_from(v)) for k, v in (("compression", COMPRESSIONS), ("streaming", STREAMINGS))
        }
    if draw(st.booleans()):
        fields["cpu"] = {**fields["cpu"], "reserve": draw(st.booleans())}
        fields["memoryReserve"] = draw(st.booleans())
    if draw(st.booleans()):
        fields["memoryBalloon"] = draw(st.sampled_from(["0", "256Mi"]))
    if draw(st.booleans()):
        fields["restartMethod"] = draw(st.sampled_from(["GuestAgent", "Reset"]))
    return VirtualMachineSpec.model_validate(fields)


def near(draw: st.DrawFn, wanted: Any, anything: st.SearchStrategy[Any]) -> Any:
    """Often what the spec says (a VM close to its spec is the common case), else anything."""
    return wanted if draw(st.booleans()) else draw(anything)


@st.composite
def shapes(draw: st.DrawFn, spec: VirtualMachineSpec) -> Shape:
    sockets, cores = near(draw, (spec.cpu.sockets, spec.cpu.cores), st.tuples(st.integers(1, 4), st.integers(1, 4)))
    spec_volumes = [d.volume for d in spec.disks if d.volume]
    volumes = draw(st.lists(st.sampled_from(VOLUMES), max_size=4, unique=True))
    volumes = list(dict.fromkeys([v for v in spec_volumes if draw(st.booleans())] + volumes))[:5]
    disks, used = [], set()
    for volume in volumes:
        bus = draw(st.sampled_from(["scsi", "virtio", "ide"]))
        device = draw(st.sampled_from([d for d in DEVICES[bus] if d not in used] or ["hdd"]))
        used.add(device)
        disks.append(ObservedDisk(device, bus, volume, 10 * GIB))
    spec_macs = [n.mac for n in spec.interfaces if n.mac]
    nic_macs = list(dict.fromkeys(spec_macs + draw(st.lists(st.sampled_from(MACS), max_size=3, unique=True))))
    triple = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3))
    nics = tuple(
        ObservedNic(mac, "ycb123", PORT_GROUP, "virtio", inbound=draw(triple), outbound=draw(triple))
        for mac in nic_macs
        if draw(st.booleans())
    )
    return Shape(
        cpu_sockets=sockets,
        cpu_cores=cores,
        cpu_current=draw(st.integers(1, sockets * cores)),
        memory=near(draw, MEMORIES[spec.memory], st.sampled_from(sorted(MEMORIES.values()))),
        disks=tuple(disks),
        nics=nics,
        cdrom=draw(st.sampled_from(["", "centos7x64.iso"])),
        boot_order=tuple(draw(st.permutations([d.device for d in disks]))),
        ha_mode=draw(st.sampled_from(["on", "off"])),
        os_loader=draw(st.sampled_from(["BIOS", "UEFI"])),
        baseline=draw(st.sampled_from(["", *BASELINES])),
        vnc=draw(st.none() | st.booleans()),
        memory_security=draw(st.none() | st.booleans()),
        panic_model=draw(st.sampled_from(["", "isa", "none"])),
        pci=tuple(draw(st.lists(st.sampled_from(PCI_ADDRESSES), max_size=2, unique=True))),
        mdevs=tuple(
            ObservedMdev(u, "vfio-pci", draw(st.sampled_from(["", "on", "off"])))
            for u in draw(st.lists(st.sampled_from(MDEVS), max_size=2, unique=True))
        ),
        cpu_reserve=draw(st.none() | st.booleans()),
        memory_reserve=draw(st.none() | st.booleans()),
        compression=draw(st.sampled_from(["", *COMPRESSIONS])),
        streaming=draw(st.sampled_from(["", *STREAMINGS])),
    )


# state/action pairs: any of the doc's, with every state at rest and hibernation (shutoff + save)
# weighted up; any pairing at all (busy actions included) the rest of the time.
power_states = st.one_of(
    st.sampled_from([(state, "noaction") for state in STATES] + [("shutoff", "save")] * 2),
    st.tuples(st.sampled_from(STATES), st.sampled_from(ACTIONS)),
)


@st.composite
def observations(draw: st.DrawFn, spec: VirtualMachineSpec) -> Observed:
    state, action = draw(power_states)
    return Observed(
        uuid=VM_UUID,
        name=draw(st.sampled_from(["vm1", "renamed"])),
        cluster=CLUSTER,
        tenant=TENANT,
        state=state,
        action=action,
        agent=draw(st.sampled_from(AGENTS)),
        host="",
        group="",
        os=near(draw, spec.os, st.sampled_from(OSES)),
        created_at=int(NOW) - 3600,
        zone=draw(st.sampled_from(["", *ZONES])),
        type=draw(st.sampled_from(["", "GUS", "VDI"])),
        nested=draw(st.none() | st.booleans()),
        shape=draw(st.none() | shapes(spec)) if draw(st.integers(0, 4)) == 0 else draw(shapes(spec)),
    )


@st.composite
def memories(draw: st.DrawFn, spec: VirtualMachineSpec, vm: Observed) -> Memory:
    """What vmop remembers making: often the spec's disks and NICs, on what the VM has."""
    attached = [d.volume for d in vm.shape.disks] if vm.shape else []
    present = [n.mac for n in vm.shape.nics] if vm.shape else []
    disk_names = [d.name for d in spec.disks] + ["gone0", "gone1"]
    nic_names = [n.name for n in spec.interfaces] + ["gone0"]
    owned_disks = draw(
        st.dictionaries(st.sampled_from(disk_names), st.sampled_from(attached + VOLUMES[:2]), max_size=4)
    )
    owned_nics = draw(st.dictionaries(st.sampled_from(nic_names), st.sampled_from(present + MACS[:2]), max_size=3))
    requested = draw(st.none() | st.sampled_from([NOW - 5, NOW - 60, NOW - 600]))
    pci = draw(st.dictionaries(st.sampled_from(["pci0", "pci1", "gone"]), st.sampled_from(PCI_ADDRESSES), max_size=2))
    mdev = draw(st.dictionaries(st.sampled_from(["mdev0", "gone"]), st.sampled_from(MDEVS), max_size=2))
    return Memory(
        uuid=vm.uuid,
        shutdown_requested_at=requested,
        owned=Owned(owned_disks, owned_nics, pci=pci, mdev=mdev),
        balloon=draw(st.none() | st.sampled_from([0, 256 * 1024**2])),
        restart_handled=draw(st.none() | st.sampled_from(["r1", "r2"])),
    )


def _show(request: RequestModel) -> dict[str, Any]:
    return request.model_dump(exclude_unset=True, exclude={"cluster_uuid", "tenant", "compute_uuid", "compute_name"})


# ---------------------------------------------------------------- the properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), data=st.data())
def test_no_plan_contains_a_call_the_doc_forbids(spec: VirtualMachineSpec, data: st.DataObject) -> None:
    vm = data.draw(observations(spec))
    memory = data.draw(memories(spec, vm))
    restart = data.draw(st.none() | st.sampled_from(["r1", "r2"]))
    plan = plan_virtual_machine(spec, context(restart_request=restart), memory, vm, [])
    found = violations(vm, plan.calls)
    assert not found, (found, [(c.operation, _show(c.request)) for c in plan.calls])
    if spec.adopt is not None and spec.adopt.observe_only:
        assert plan.calls == []


def _differs_silently(spec: VirtualMachineSpec, vm: Observed) -> list[str]:
    """Fields the create sends whose platform value (when reported) is not the spec's."""
    shape = vm.shape
    assert shape is not None
    meta = spec.meta
    pairs = {
        "type": (spec.type, vm.type or None),
        "zone": (spec.zone, vm.zone or None),
        "cpu.baseline": (spec.cpu.baseline, shape.baseline),
        "meta.osLoader": (meta and meta.os_loader, shape.os_loader),
        "meta.vnc": (meta and meta.vnc, shape.vnc),
        "meta.nestedVirtualization": (meta and meta.nested_virtualization, vm.nested),
        "meta.panicModel": (meta and meta.panic_model, shape.panic_model or None),
        "meta.memorySecurity": (meta and meta.memory_security, shape.memory_security),
        "cpu.reserve": (spec.cpu.reserve, shape.cpu_reserve),
        "memoryReserve": (spec.memory_reserve, shape.memory_reserve),
        "console.compression": (spec.console and spec.console.compression, shape.compression or None),
        "console.streaming": (spec.console and spec.console.streaming, shape.streaming or None),
    }
    return [f for f, (want, has) in pairs.items() if want is not None and has is not None and want != has]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), data=st.data())
def test_in_sync_is_never_said_while_a_field_the_create_sent_differs(
    spec: VirtualMachineSpec, data: st.DataObject
) -> None:
    vm = data.draw(observations(spec))
    if vm.shape is None or (spec.adopt is not None and spec.adopt.observe_only):
        return  # list only: the planner reads details first (list hints); observe-only changes nothing
    plan = plan_virtual_machine(spec, context(), data.draw(memories(spec, vm)), vm, [])
    differs = _differs_silently(spec, vm)
    if differs and vm.action not in BUSY:
        assert plan.verdict.message != "in sync", differs
        # Each is named: applied now (a call), pending, or in the Synced message (unsupported).
        said = " ".join([plan.verdict.message, *plan.pending_changes, *(c.reason for c in plan.calls)])
        assert all(field in said for field in differs), (differs, said)


@settings(max_examples=200, deadline=None)
@given(spec=specs(), data=st.data(), policy=st.sampled_from(["Delete", "Retain"]))
def test_no_deletion_plan_contains_a_call_the_doc_forbids(
    spec: VirtualMachineSpec, data: st.DataObject, policy: str
) -> None:
    vm = data.draw(observations(spec))
    memory = data.draw(memories(spec, vm))
    plan = plan_vm_deletion(spec, policy, memory, vm, now=NOW)  # type: ignore[arg-type]
    assert not violations(vm, plan.calls), [str(c) for c in plan.calls]
    assert len(plan.calls) <= 1
    if policy == "Retain" or (spec.adopt is not None and spec.adopt.observe_only):
        assert (plan.calls, plan.done) == ([], True)


# ---------------------------------------------------------------- the oracle itself can fail


def test_the_oracle_rejects_what_the_doc_forbids() -> None:
    from vmop.compute.models import ComputeIdentifier
    from vmop.compute.requests import DiskDetachRequest, VcpuSetRequest, VmemorySetRequest

    ident = ComputeIdentifier(cluster_uuid=CLUSTER, compute_uuid=VM_UUID)
    base = ident.model_dump()
    shape = Shape(2, 2, 2, GIB, (ObservedDisk("vdb", "virtio", VOLUMES[0], GIB),), (), "", (), "on", "BIOS")

    def vm(state: str, action: str = "noaction", agent: str = "connected") -> Observed:
        return Observed(VM_UUID, "vm1", CLUSTER, TENANT, state, action, agent, "", "", "CentOS x64", 0, shape=shape)

    forbidden = [
        (vm("running"), Call("start", ident, "")),
        (vm("shutoff", "save"), Call("start", ident, "")),
        (vm("running", agent="pending"), Call("shutdown", ident, "")),
        (vm("running", "migrating"), Call("shutoff", ident, "")),
        (vm("paused"), Call("restore", ident, "")),
        (vm("running"), Call("vcpu/set", VcpuSetRequest(**base, cpu_sockets=4, cpu_socket_cores=1), "")),
        (vm("running"), Call("vcpu/set", VcpuSetRequest(**base, cpu_current=1), "")),
        (vm("running"), Call("vmemory/set", VmemorySetRequest(**base, vmemory=GIB // 2), "")),
        (vm("running"), Call("disk/detach", DiskDetachRequest(**base, target_device="vdb"), "")),
        (vm("shutoff"), Call("start", ident, "x")),
    ]
    for observed_vm, call in forbidden[:-1]:
        assert violations(observed_vm, [call]), call
    allowed = [
        (vm("shutoff"), Call("start", ident, "")),
        (vm("shutoff", "save"), Call("restore", ident, "")),
        (vm("pmsuspend"), Call("restore", ident, "")),
        (vm("running"), Call("vcpu/set", VcpuSetRequest(**base, cpu_current=4), "")),
        (vm("shutoff"), Call("disk/detach", DiskDetachRequest(**base, target_device="vdb"), "")),
    ]
    for observed_vm, call in allowed:
        assert not violations(observed_vm, [call]), call
    two_power_calls = [Call("start", ident, ""), Call("shutoff", ident, "")]
    assert violations(vm("shutoff"), two_power_calls)
