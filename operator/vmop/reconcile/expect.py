"""What a VM looks like after calls succeed, so status can be written without reading it back.

Synchronous calls (start, shutoff, suspend, resume, save, restore) have taken effect when they
return, per the doc. Shape calls leave the shape unknown: the next observation reads it.
The next list refresh corrects anything this gets wrong.
"""

from __future__ import annotations

from dataclasses import replace

from vmop.compute.models import CreateResult
from vmop.compute.rules import HIBERNATED_ACTION, HIBERNATED_STATE
from vmop.reconcile.calls import Call
from vmop.reconcile.observed import Observed

# operation -> (state, action, agent) after it returns; None keeps what was there.
_POWER_EFFECTS: dict[str, tuple[str, str | None, str | None]] = {
    "start": ("running", "noaction", "pending"),
    "restore": ("running", "noaction", "pending"),
    "resume": ("running", None, None),
    "shutoff": ("shutoff", None, "disconnected"),
    "suspend": ("paused", None, None),
    "save": (HIBERNATED_STATE, HIBERNATED_ACTION, "disconnected"),
}


def expect_after(vm: Observed, call: Call) -> Observed:
    effect = _POWER_EFFECTS.get(call.operation)
    if effect is not None:
        state, action, agent = effect
        return replace(vm, state=state, action=action or vm.action, agent=agent or vm.agent)
    if call.operation in ("shutdown", "reboot"):
        return vm  # asynchronous: the guest decides when
    return replace(vm, shape=None)


def created(
    result: CreateResult, call: Call, *, cluster: str, tenant: str, now: float, cpus: int, memory: int
) -> Observed:
    """The VM a successful create has just made: shut off, cloning (template) or importing (image)."""
    # A template's volumes are cloned and an image is imported after the call returns.
    action = {"create/from_template": "cloning", "unified_import": "importing"}.get(call.operation, "noaction")
    return Observed(
        uuid=result.vm_uuid,
        name=result.vm_name,
        cluster=cluster,
        tenant=tenant,
        state="shutoff",
        action=action,
        agent="disconnected",
        host="",
        group=result.group,
        os="",
        created_at=int(now),
        macs=tuple(result.mac_addresses),
        cpu_hint=cpus,
        memory_hint=memory,
    )
