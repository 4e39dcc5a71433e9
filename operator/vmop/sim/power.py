"""Power operations: start, shutdown, shutoff, reboot, reboot_ga, reset, suspend, resume, save, restore."""

from __future__ import annotations

from collections.abc import Callable

from vmop.compute.rules import devices_for_bus, is_hibernated
from vmop.compute.scodes import Scode
from vmop.sim.errors import SimError
from vmop.sim.platform import Platform, require
from vmop.sim.world import Vm

PowerOperation = Callable[[Platform, Vm], None]


def _power_tag(vm: Vm) -> str:
    return f"{vm.uuid}:power"


def _boot_guest(p: Platform, vm: Vm) -> None:
    """The guest boots; its agent connects after the boot time (never, with no_guest_agent)."""
    vm.ga_state = "pending"
    p.world.cancel(_power_tag(vm))
    if p.faults.no_guest_agent:
        return

    def connected() -> None:
        if vm.state == "running":
            vm.ga_state = "connected"

    p.world.schedule(p.timings.boot, connected, _power_tag(vm))


def _powered_off(p: Platform, vm: Vm) -> None:
    p.world.cancel(_power_tag(vm))
    vm.state, vm.ga_state = "shutoff", "disconnected"
    vm.cloud_init_device = ""
    if p.dialect.balloon_dropped_at_power_off:
        vm.balloon = None


def _cloud_init_slot(vm: Vm) -> str:
    """The doc: a start with cloud_init=true takes an IDE device slot (until the VM powers off).
    It does not say what a start with cloud_init=true and no cloud-init data does: allowed here."""
    used = {d.disk_target_device for d in vm.disks}
    free = [device for device in devices_for_bus("ide") if device not in used]
    if not free:
        raise SimError(Scode.DISK_DEVICE_INVALID, f"start with cloud_init: every ide slot of vm {vm.uuid} is taken")
    return free[0]


def start(p: Platform, vm: Vm, *, cloud_init: bool = False) -> None:
    require(vm, "start", states=("shutoff",))
    if cloud_init:
        vm.cloud_init_device = _cloud_init_slot(vm)
    vm.state = "running"
    vm.host = vm.host or p.world.first_host(vm.cluster_uuid)
    _boot_guest(p, vm)
    p.world.log(vm, "云服务器启动")


def shutdown(p: Platform, vm: Vm) -> None:
    require(vm, "shutdown", states=("running",), agent=True)
    p.world.log(vm, "云服务器安全关机")
    if p.faults.guest_ignores_shutdown:
        return  # the call succeeds; the guest never powers off (the doc allows it)

    def guest_done() -> None:
        if vm.state == "running" and vm.action == "noaction":
            _powered_off(p, vm)

    p.world.schedule(p.timings.guest_shutdown, guest_done, _power_tag(vm))


def shutoff(p: Platform, vm: Vm) -> None:
    require(vm, "shutoff", states=("running",))
    _powered_off(p, vm)
    p.world.log(vm, "云服务器断电")


def reboot(p: Platform, vm: Vm) -> None:
    require(vm, "reboot", states=("running",), agent=True)
    _boot_guest(p, vm)


def reboot_ga(p: Platform, vm: Vm) -> None:
    """The doc: running, no action, agent connected; the reboot happens after the answer."""
    require(vm, "reboot_ga", states=("running",), agent=True)
    _boot_guest(p, vm)


def reset(p: Platform, vm: Vm) -> None:
    require(vm, "reset", states=("running",))
    _boot_guest(p, vm)


def suspend(p: Platform, vm: Vm) -> None:
    require(vm, "suspend", states=("running",))
    vm.state = "paused"


def resume(p: Platform, vm: Vm) -> None:
    require(vm, "resume", states=("paused",))
    vm.state = "running"


def save(p: Platform, vm: Vm) -> None:
    require(vm, "save", states=("running",))
    p.world.cancel(_power_tag(vm))
    (vm.state, vm.action), vm.ga_state = p.dialect.hibernated, "disconnected"


def restore(p: Platform, vm: Vm) -> None:
    # Wakes a hibernated VM, in either shape, and so also a guest-initiated sleep (pmsuspend).
    if not is_hibernated(vm.state, vm.action):
        raise SimError(
            Scode.VM_STATE_INVALID,
            f"restore needs a hibernated vm; vm {vm.uuid} is state={vm.state} action={vm.action}",
        )
    vm.state, vm.action = "running", "noaction"
    _boot_guest(p, vm)


OPERATIONS: dict[str, PowerOperation] = {
    "start": start,
    "shutdown": shutdown,
    "shutoff": shutoff,
    "reboot": reboot,
    "reboot_ga": reboot_ga,
    "reset": reset,
    "suspend": suspend,
    "resume": resume,
    "save": save,
    "restore": restore,
}
