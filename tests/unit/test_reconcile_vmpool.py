"""plan_vm_pool over a small world of VirtualMachines: each step the planner acts, the world answers
(VMs made or restarted come Ready a few steps later, some fail by themselves). Properties: the
rollout never holds more than maxUnavailable VMs out of Ready, and the pool converges."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.simulation import CLUSTER, POOL, PORT_GROUP, TENANT
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.api.vmpool import max_unavailable
from vmop.reconcile.vmpool import Member, PoolSpec, Strategy, classify_change, plan_vm_pool, template_hash

BASE: dict[str, Any] = {
    "cluster": CLUSTER,
    "tenant": TENANT,
    "disks": [{"name": "root", "size": "10Gi", "pool": POOL}],
    "interfaces": [{"name": "eth0", "network": "mgmt", "portGroup": PORT_GROUP}],
}


def spec(**changes: Any) -> VirtualMachineSpec:
    return VirtualMachineSpec.model_validate(BASE | changes)


TEMPLATES = {
    "base": spec(),
    "more-memory": spec(memory="2Gi"),  # hot: memory is added while running
    "two-sockets": spec(cpu={"sockets": 2}),  # cold: a topology change needs the VM off
    "data-disk": spec(disks=[*BASE["disks"], {"name": "data", "size": "1Gi", "pool": POOL}]),  # replace
    "stopped": spec(powerState="Stopped"),  # hot: no shape change
}


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("base", "base", "none"),
        ("base", "more-memory", "hot"),
        ("more-memory", "base", "cold"),  # memory is taken away only while off
        ("base", "two-sockets", "cold"),
        ("base", "data-disk", "replace"),  # new volumes are made only with a VM
        ("data-disk", "base", "cold"),  # a virtio disk detaches only while off
        ("base", "stopped", "hot"),
    ],
)
def test_changes_are_classified_by_the_virtual_machine_planners_rules(old: str, new: str, kind: str) -> None:
    assert classify_change(TEMPLATES[old], TEMPLATES[new]) == kind


def test_cpu_current_up_is_hot_and_scsi_disks_detach_hot() -> None:
    two = {"sockets": 2}
    assert classify_change(spec(cpu=two | {"current": 1}), spec(cpu=two | {"current": 2})) == "hot"
    scsi = [*BASE["disks"], {"name": "scratch", "bus": "scsi", "size": "1Gi", "pool": POOL}]
    assert classify_change(spec(disks=scsi), spec()) == "hot"


def member(name: str, digest: str, *, ready: bool = True, created: str = "2026-01-01T00:00:00Z") -> Member:
    return Member(name, digest, TEMPLATES["base"], ready, created)


def pool(replicas: int, template: str = "base", strategy: Strategy = "RollingUpdate", mu: int = 1) -> PoolSpec:
    return PoolSpec(replicas, template, TEMPLATES[template], strategy, mu)


def test_scale_down_deletes_the_not_ready_first_then_the_newest() -> None:
    members = [
        member("a", "base", created="2026-01-01T00:00:00Z"),
        member("b", "base", created="2026-01-03T00:00:00Z"),
        member("c", "base", created="2026-01-02T00:00:00Z", ready=False),
        member("d", "base", created="2026-01-04T00:00:00Z"),
    ]
    assert plan_vm_pool(pool(2), members).deletes == ["c", "d"]
    assert plan_vm_pool(pool(1), members).deletes == ["c", "d", "b"]


def test_vms_being_deleted_do_not_count() -> None:
    members = [member("a", "base"), replace(member("b", "base"), deleting=True)]
    plan = plan_vm_pool(pool(2), members)
    assert (plan.creates, plan.deletes, plan.replicas) == (1, [], 2)


def test_on_delete_changes_no_existing_vm_and_new_ones_get_the_template() -> None:
    members = [member("a", "base"), member("b", "base")]
    plan = plan_vm_pool(pool(3, "two-sockets", "OnDelete"), members)
    assert (plan.creates, plan.updates, plan.replaces, plan.waiting) == (1, [], [], ["a", "b"])
    hot = plan_vm_pool(pool(2, "more-memory", "OnDelete"), members)
    assert hot.updates == [] and hot.waiting == ["a", "b"]


def test_hot_changes_go_to_every_vm_at_once() -> None:
    members = [member(name, "base") for name in "abcd"]
    plan = plan_vm_pool(pool(4, "more-memory"), members)
    assert [(u.name, u.restart) for u in plan.updates] == [(name, False) for name in "abcd"]


def test_max_unavailable_as_a_percentage() -> None:
    assert max_unavailable("25%", 10) == 2
    assert max_unavailable("10%", 3) == 1  # at least one
    assert max_unavailable(3, 10) == 3


# --- the world ---------------------------------------------------------------------------------


@dataclass
class Vm:
    digest: str
    spec: VirtualMachineSpec
    created: int
    down: int = 0  # steps until Ready; 0: Ready
    caused: bool = False  # not Ready because the pool restarted or replaced it while Ready


@dataclass
class World:
    rng: random.Random
    vms: dict[str, Vm] = field(default_factory=dict)
    clock: int = 0
    made: int = 0

    def members(self) -> list[Member]:
        return [
            Member(name, vm.digest, vm.spec, vm.down == 0, f"{vm.created:08d}") for name, vm in sorted(self.vms.items())
        ]

    def make(self, digest: str, *, caused: bool) -> None:
        self.made += 1
        self.vms[f"vm-{self.made}"] = Vm(digest, TEMPLATES[digest], self.clock, self.rng.randint(1, 3), caused)

    def caused(self) -> int:
        return sum(vm.caused and vm.down > 0 for vm in self.vms.values())

    def step(self, target: PoolSpec, failures: bool) -> None:
        plan = plan_vm_pool(target, self.members())
        if target.strategy == "OnDelete":
            assert not (plan.updates or plan.replaces), "OnDelete changes no existing VM"
        for name in plan.deletes:
            del self.vms[name]
        replaced_ready = 0
        for name in plan.replaces:
            replaced_ready += self.vms[name].down == 0
            del self.vms[name]
        for index in range(plan.creates):
            self.make(target.template_hash, caused=index < replaced_ready)
        for update in plan.updates:
            vm = self.vms[update.name]
            vm.digest, vm.spec = target.template_hash, target.template
            if update.restart:
                vm.caused = vm.caused or vm.down == 0
                vm.down = max(vm.down, self.rng.randint(1, 3))
        self.clock += 1
        for vm in self.vms.values():
            if vm.down:
                vm.down -= 1
                vm.caused = vm.caused and vm.down > 0
            elif failures and self.rng.random() < 0.05:  # a VM failing by itself: not the rollout's doing
                vm.down = self.rng.randint(1, 3)


phases = st.lists(
    st.tuples(st.integers(0, 7), st.sampled_from(sorted(TEMPLATES)), st.integers(1, 12)), min_size=1, max_size=5
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(0, 7),
    phases=phases,
    mu=st.one_of(st.integers(1, 3), st.sampled_from(["25%", "50%", "100%"])),
    strategy=st.sampled_from(["RollingUpdate", "OnDelete"]),
    seed=st.integers(0, 2**16),
)
def test_a_rollout_never_holds_more_than_max_unavailable_out_and_the_pool_converges(
    start: int, phases: list[tuple[int, str, int]], mu: int | str, strategy: Strategy, seed: int
) -> None:
    world = World(random.Random(seed))
    for _ in range(start):
        world.make("base", caused=False)
    for vm in world.vms.values():
        vm.down = 0
    for replicas, template, steps in phases:  # a person scales and edits the template now and then
        target = PoolSpec(replicas, template, TEMPLATES[template], strategy, max_unavailable(mu, replicas))
        for _ in range(steps):
            world.step(target, failures=True)
            assert world.caused() <= target.max_unavailable, world.vms
    for _ in range(60):  # then leaves it alone, and nothing fails
        world.step(target, failures=False)
        assert world.caused() <= target.max_unavailable, world.vms
    final = plan_vm_pool(target, world.members())
    assert len(world.vms) == target.replicas
    assert all(vm.down == 0 for vm in world.vms.values())
    if strategy == "RollingUpdate":
        assert final.settled, final
        assert all(vm.digest == target.template_hash for vm in world.vms.values())
    else:
        assert final.settled == all(vm.digest == target.template_hash for vm in world.vms.values())
    assert (final.replicas, final.ready) == (target.replicas, target.replicas)


def test_template_hash_is_stable_and_sees_every_change() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": dict(BASE)}
    assert template_hash(template) == template_hash({"spec": dict(BASE), "metadata": {"labels": {"app": "web"}}})
    assert template_hash(template) != template_hash(template | {"metadata": {"labels": {"app": "db"}}})
