"""What every simulated operation works on: the world, the timings, the faults; and the checks
they share (find the VM, require a state)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vmop.compute.models import ComputeIdentifier
from vmop.compute.rules import BUSY_ACTIONS, is_hibernated
from vmop.compute.scodes import Scode
from vmop.sim.dialect import Dialect
from vmop.sim.errors import SimError
from vmop.sim.faults import FaultDice, Faults, Timings
from vmop.sim.world import Group, Vm, World

MAC_PATTERN = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


@dataclass
class Platform:
    world: World
    timings: Timings = field(default_factory=Timings)
    faults: Faults = field(default_factory=Faults)
    dialect: Dialect = field(default_factory=Dialect)
    dice: FaultDice = field(init=False)

    def __post_init__(self) -> None:
        self.dice = FaultDice(self.faults)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.dice = FaultDice(faults)

    # ------------------------------------------------------------ lookups

    def vm(self, ident: ComputeIdentifier, *, include_trash: bool = False) -> Vm:
        vm = self.world.vms.get(ident.compute_uuid)
        if vm is None or (vm.trashed and not include_trash):
            raise SimError(Scode.VM_NOT_FOUND, f"compute_uuid {ident.compute_uuid}")
        if ident.cluster_uuid and ident.cluster_uuid != vm.cluster_uuid:
            raise SimError(Scode.VM_NOT_FOUND, f"compute_uuid {ident.compute_uuid} in cluster {ident.cluster_uuid}")
        return vm

    def cluster(self, cluster_uuid: str) -> str:
        if cluster_uuid not in self.world.clusters:
            raise SimError(Scode.CLUSTER_NOT_FOUND, f"cluster_uuid {cluster_uuid!r}")
        return cluster_uuid

    def tenant(self, tenant: str) -> str:
        if tenant not in self.world.tenants:
            raise SimError(Scode.TENANT_NOT_FOUND, f"tenant {tenant!r}")
        return tenant

    def group(self, group_uuid: str, cluster_uuid: str, tenant: str) -> Group:
        group = self.world.groups.get(group_uuid)
        if group is None or group.cluster_uuid != cluster_uuid or (tenant and group.tenant != tenant):
            raise SimError(Scode.GROUP_NOT_FOUND, f"group {group_uuid!r}")
        return group

    def new_mac(self, cluster_uuid: str) -> str:
        used = {i.mac_address for v in self.world.vms.values() if v.cluster_uuid == cluster_uuid for i in v.interfaces}
        while True:
            n = self.world.next_serial()
            mac = f"52:56:ff:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"
            if mac not in used:
                return mac


def require(
    vm: Vm,
    operation: str,
    *,
    states: tuple[str, ...],
    noaction: bool = True,
    agent: bool = False,
) -> None:
    """Refuse an operation the doc forbids in the VM's current state, action or agent state."""
    require_idle(vm, operation)
    if vm.state not in states or (noaction and vm.action != "noaction"):
        shown = "hibernated" if is_hibernated(vm.state, vm.action) else f"state={vm.state} action={vm.action}"
        raise SimError(Scode.VM_STATE_INVALID, f"{operation} needs state in {list(states)}; vm {vm.uuid} is {shown}")
    if agent and vm.ga_state != "connected":
        raise SimError(Scode.AGENT_NOT_CONNECTED, f"{operation}: guest agent of vm {vm.uuid} is {vm.ga_state}")


def require_idle(vm: Vm, operation: str) -> None:
    """Nothing but an action's own endpoints may touch a VM while it migrates, clones, imports..."""
    if vm.action in BUSY_ACTIONS:
        raise SimError(Scode.VM_ACTION_IN_PROGRESS, f"{operation}: vm {vm.uuid} is {vm.action}")
