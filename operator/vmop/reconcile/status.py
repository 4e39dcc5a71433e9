"""The status a VirtualMachine shows after a pass: pure, so "nothing changed" means "no write"."""

from __future__ import annotations

from datetime import UTC, datetime

from vmop.api.conditions import READY, RESTART_REQUIRED, SYNCED, Condition, LastError, Reason
from vmop.api.virtualmachine import (
    DiskStatus,
    InterfaceStatus,
    MdevStatus,
    PciStatus,
    UsbStatus,
    VirtualMachineStatus,
)
from vmop.compute.errors import ComputeError, ComputeUnavailable
from vmop.reconcile.conditions import set_condition
from vmop.reconcile.observed import Observed
from vmop.reconcile.virtualmachine import Memory, Plan


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def quantity(size: int) -> str:
    for suffix, unit in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def error_message(error: ComputeError) -> str:
    return str(error)


def last_error(error: ComputeError, now: float) -> LastError:
    return LastError(
        scode=error.scode,
        message=error.message,
        message_cn=error.message_cn,
        desc=error.desc,
        operation=error.endpoint,
        time=rfc3339(now),
    )


def memory_from_status(status: VirtualMachineStatus, uuid_annotation: str | None) -> Memory:
    from vmop.reconcile.changes import Owned, memory_bytes

    return Memory(
        uuid=status.uuid or uuid_annotation,
        location=(status.cluster, status.tenant) if status.cluster and status.tenant else None,
        create_pending_since=parse_rfc3339(status.create_pending_since),
        lost_since=parse_rfc3339(status.lost_since),
        last_created_at=parse_rfc3339(status.last_create_time),
        shutdown_requested_at=parse_rfc3339(status.shutdown_requested_at),
        owned=Owned(
            {d.name: d.volume for d in status.disks or []},
            {n.name: n.mac for n in status.interfaces or []},
            {u.name: (u.bus, u.port) for u in status.usb or []},
            {p.name: p.address for p in status.pci or []},
            {m.name: m.uuid for m in status.mdev or []},
        ),
        cloud_init_digest=status.cloud_init_digest,
        cloud_init_shown=status.cloud_init_shown_digest,
        console_password_digest=status.console_password_digest,
        balloon=memory_bytes(status.memory_balloon) if status.memory_balloon else None,
        restart_handled=status.restart_requested,
    )


def render_status(
    previous: VirtualMachineStatus,
    plan: Plan,
    observed: Observed | None,
    *,
    error: ComputeError | None,
    generation: int,
    now: float,
    reconcile_request: str | None = None,
    in_flight: bool = False,
) -> VirtualMachineStatus:
    """``observed``: the VM as the pass's successful calls left it (reconcile/expect.py), None
    when there is none to show. ``in_flight``: the status written before the plan's calls (the
    create mark): Synced is Unknown until they answer."""
    verdict = plan.verdict
    when = rfc3339(now)
    conditions: list[Condition] = list(previous.conditions or [])
    ready_reason, ready = verdict.ready_reason, verdict.ready
    synced: bool | None
    if error is not None:
        synced_reason = Reason.UNAVAILABLE if isinstance(error, ComputeUnavailable) else Reason.COMPUTE_ERROR
        synced, message = False, error_message(error)
    else:
        synced = None if in_flight else (True if verdict.synced is None else verdict.synced)
        synced_reason, message = verdict.synced_reason, verdict.message
    ready_message = verdict.ready_message or verdict.message
    conditions = set_condition(conditions, READY, ready, ready_reason, ready_message, now=when, generation=generation)
    conditions = set_condition(conditions, SYNCED, synced, synced_reason, message, now=when, generation=generation)
    pending = plan.pending_changes
    conditions = set_condition(
        conditions,
        RESTART_REQUIRED,
        bool(pending),
        Reason.PENDING_CHANGES if pending else Reason.NO_CHANGES,
        f"the next power cycle applies: {', '.join(pending)}" if pending else "",
        now=when,
        generation=generation,
    )
    memory = plan.memory
    status = previous.model_copy(
        update={
            "observed_generation": generation,
            "phase": verdict.phase,
            "uuid": memory.uuid,
            "conditions": conditions,
            "pending_changes": pending or None,
            "last_error": last_error(error, now) if error is not None else None,
            "create_pending_since": rfc3339(memory.create_pending_since) if memory.create_pending_since else None,
            "lost_since": rfc3339(memory.lost_since) if memory.lost_since else None,
            "last_create_time": rfc3339(memory.last_created_at) if memory.last_created_at else None,
            "shutdown_requested_at": rfc3339(memory.shutdown_requested_at) if memory.shutdown_requested_at else None,
            "disks": [DiskStatus(name=k, volume=v) for k, v in sorted(memory.owned.disks.items())] or None,
            "interfaces": [InterfaceStatus(name=k, mac=v) for k, v in sorted(memory.owned.nics.items())] or None,
            "usb": [UsbStatus(name=k, bus=b, port=p) for k, (b, p) in sorted(memory.owned.usb.items())] or None,
            "pci": [PciStatus(name=k, address=v) for k, v in sorted(memory.owned.pci.items())] or None,
            "mdev": [MdevStatus(name=k, uuid=v) for k, v in sorted(memory.owned.mdev.items())] or None,
            "memory_balloon": quantity(memory.balloon) if memory.balloon is not None else None,
            "restart_requested": memory.restart_handled,
            "cloud_init_digest": memory.cloud_init_digest,
            "cloud_init_shown_digest": memory.cloud_init_shown,
            "console_password_digest": memory.console_password_digest,
            "reconcile_requested": reconcile_request or previous.reconcile_requested,
        }
    )
    if observed is None and memory.lost_since is not None:
        # Missing from every cluster it may be in: nothing runs anywhere to report. uuid, cluster
        # and tenant stay (the VM looked for, and where it was last seen); so does its last shape.
        gone = dict.fromkeys(("host", "state", "action", "agent", "ips"))
        status = status.model_copy(update=gone)
    if observed is not None:
        status = status.model_copy(
            update={
                "cluster": observed.cluster,
                "tenant": observed.tenant,
                "name": observed.name or previous.name,
                "host": observed.host or None,
                "state": observed.state,
                "action": observed.action,
                "agent": observed.agent,
                "ips": list(observed.ips) or None,
                "macs": list(observed.macs) or None,
                "cpus": observed.cpus or previous.cpus,
                "memory": quantity(observed.memory) if observed.memory else previous.memory,
                "group": observed.group or previous.group,
                "volumes": list(observed.volumes) if observed.volumes is not None else previous.volumes,
            }
        )
    return status
