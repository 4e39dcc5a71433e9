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

from vmop.compute.models import ComputeVideo, Disk, Interface
from vmop.sim.world import Group, Vm, Volume, World

# Actions that run on a timer (sim/migration.py, lifecycle.py); a restart interrupts them.
_TIMED_ACTIONS = frozenset({"migrating", "cloning", "importing", "exporting", "pending", "restoring"})


def save_state(world: World, path: Path) -> None:
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
    for name in ("disks", "interfaces", "video"):
        fields[name] = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in fields[name]]
    return fields


def load_state(world: World, path: Path) -> None:
    state = json.loads(path.read_text())
    while world.next_serial() < state["serial"]:
        pass
    world.groups.update({g["uuid"]: Group(**g) for g in state["groups"]})
    world.volumes = {v["uuid"]: Volume(**v) for v in state["volumes"]}
    world.vms = {}
    for fields in state["vms"]:
        vm = Vm(
            **{
                **fields,
                "disks": [Disk.model_validate(d) for d in fields["disks"]],
                "interfaces": [Interface.model_validate(i) for i in fields["interfaces"]],
                "video": [ComputeVideo.model_validate(v) for v in fields["video"]],
            }
        )
        if vm.action in _TIMED_ACTIONS:
            vm.action = "noaction"
        if vm.state == "running" and vm.ga_state == "pending":
            vm.ga_state = "connected"
        world.vms[vm.uuid] = vm
