"""``vmop sim --state-file``: the world outlives a simulator restart, as a platform's does.

Saved as JSON after changes (at most once a second) and on shutdown. Scheduled effects (a guest
booting, a migration running) do not survive: on load they are settled as a restarted platform
would show them: a booted guest's agent connected, an interrupted action gone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vmop.compute.models import REVEAL_SECRETS, CloudInitData, ComputeVideo, Disk, Interface, MdevDevice, PCIDevice
from vmop.sim.world import Group, UsbPort, Vm, Volume, World

# Actions that run on a timer (sim/migration.py, lifecycle.py); a restart interrupts them.
_TIMED_ACTIONS = frozenset({"migrating", "cloning", "importing", "exporting", "pending", "restoring"})


# The VM's fields held as models (lists of them, or one), as they are saved and read back.
_MODEL_LISTS: dict[str, type[BaseModel]] = {
    "disks": Disk,
    "interfaces": Interface,
    "video": ComputeVideo,
    "pci_devices": PCIDevice,
    "mdev_devices": MdevDevice,
    "usbs": UsbPort,
}
_MODELS: dict[str, type[BaseModel]] = {"cloud_init": CloudInitData}


def save_state(world: World, path: Path) -> None:
    """The state file holds what a platform stores, cloud-init data and console passwords
    included: it is the simulated platform's disk, never printed by tests or written to logs."""
    state = {
        "serial": world.next_serial(),
        "vms": [_vm_fields(vm) for vm in world.vms.values()],
        "volumes": [dataclasses.asdict(volume) for volume in world.volumes.values()],
        "groups": [dataclasses.asdict(group) for group in world.groups.values()],
    }
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(state))
    os.replace(scratch, path)  # never a half-written file


def _vm_fields(vm: Vm) -> dict[str, Any]:
    fields = {f.name: getattr(vm, f.name) for f in dataclasses.fields(vm) if f.name != "migration"}
    for name in _MODEL_LISTS:
        fields[name] = [
            item.model_dump(mode="json", by_alias=True, exclude_none=True, context=REVEAL_SECRETS)
            for item in fields[name]
        ]
    for name in _MODELS:
        model = fields[name]
        fields[name] = (
            None
            if model is None
            else model.model_dump(mode="json", by_alias=True, exclude_none=True, context=REVEAL_SECRETS)
        )
    return fields


def load_state(world: World, path: Path) -> None:
    state = json.loads(path.read_text())
    while world.next_serial() < state["serial"]:
        pass
    world.groups.update({g["uuid"]: Group(**g) for g in state["groups"]})
    world.volumes = {v["uuid"]: Volume(**v) for v in state["volumes"]}
    world.vms = {}
    for fields in state["vms"]:
        models: dict[str, Any] = {
            name: [model.model_validate(item) for item in fields.get(name, [])] for name, model in _MODEL_LISTS.items()
        }
        models.update(
            {
                name: None if fields.get(name) is None else model.model_validate(fields[name])
                for name, model in _MODELS.items()
            }
        )
        vm = Vm(**{**fields, **models})
        if vm.action in _TIMED_ACTIONS:
            vm.action = "noaction"
        if vm.state == "running" and vm.ga_state == "pending":
            vm.ga_state = "connected"
        world.vms[vm.uuid] = vm
