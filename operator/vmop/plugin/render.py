"""What the plugin prints: plain tables for people, ``-o json|yaml`` for scripts, the status
summary of a VirtualMachine, and a migration's progress bar."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml

from vmop.api.annotations import ANNOTATION_FORCE_RELEASE, ANNOTATION_MIGRATION, ANNOTATION_PAUSED
from vmop.plugin.kube import event_time

FORMATS = ("table", "json", "yaml")
RECENT_EVENTS = 10
BAR_WIDTH = 30


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """Columns padded like kubectl's; an empty cell shows as <none>."""
    cells = [[str(h).upper() for h in headers]] + [["<none>" if c in (None, "") else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def dump(data: object, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n")


def vm_row(vm: dict[str, Any]) -> list[object]:
    status = vm.get("status") or {}
    return [
        vm["metadata"]["name"],
        (vm.get("spec") or {}).get("powerState"),
        status.get("phase"),
        status.get("state"),
        condition_status(vm, "Ready"),
        "true" if annotations_of(vm).get(ANNOTATION_PAUSED) == "true" else "false",
    ]


VM_HEADERS = ("name", "power state", "phase", "state", "ready", "paused")


def migration_row(migration: dict[str, Any]) -> list[object]:
    status = migration.get("status") or {}
    destination = status.get("destination") or {}
    return [
        migration["metadata"]["name"],
        migration["spec"]["vmRef"]["name"],
        status.get("phase"),
        f"{status.get('progress', 0)}%",
        (status.get("source") or {}).get("host"),
        destination.get("host"),
        destination.get("cluster"),
        status.get("message"),
    ]


MIGRATION_HEADERS = ("name", "vm", "phase", "progress", "source host", "destination host", "cluster", "message")


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = (obj.get("metadata") or {}).get("annotations") or {}
    return found


def conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (obj.get("status") or {}).get("conditions") or []
    return found


def condition_status(obj: dict[str, Any], type_: str) -> str | None:
    return next((c.get("status") for c in conditions(obj) if c.get("type") == type_), None)


def summary(vm: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What `status` shows, as data (the same for every output format)."""
    meta, spec, status = vm["metadata"], vm.get("spec") or {}, vm.get("status") or {}
    notes = annotations_of(vm)
    return {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "phase": status.get("phase"),
        "powerState": spec.get("powerState"),
        "paused": notes.get(ANNOTATION_PAUSED) == "true",
        "forceRelease": notes.get(ANNOTATION_FORCE_RELEASE) == "true",
        "deleting": bool(meta.get("deletionTimestamp")),
        "migration": notes.get(ANNOTATION_MIGRATION),
        "platform": {
            key: status.get(key)
            for key in ("uuid", "cluster", "tenant", "host", "state", "action", "agent", "ips", "cpus", "memory")
        },
        "pendingChanges": status.get("pendingChanges") or [],
        "lastError": status.get("lastError"),
        "conditions": [
            {key: c.get(key) for key in ("type", "status", "reason", "message", "lastTransitionTime")}
            for c in conditions(vm)
        ],
        "events": [
            {
                "time": event_time(e),
                "type": e.get("type"),
                "reason": e.get("reason"),
                "count": (e.get("series") or {}).get("count") or e.get("count") or 1,
                "message": e.get("message") or e.get("note"),
            }
            for e in events[-RECENT_EVENTS:]
        ],
    }


def summary_text(shown: dict[str, Any], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    platform = shown["platform"]
    flags = [
        name
        for name, on in (
            ("paused (vmop.io/paused: no platform calls)", shown["paused"]),
            ("force-release set (its deletion leaves the VM on the platform)", shown["forceRelease"]),
            ("being deleted", shown["deleting"]),
        )
        if on
    ]
    lines = [
        f"Name:             {shown['name']}",
        f"Namespace:        {shown['namespace']}",
        f"Phase:            {shown['phase'] or '<none>'}",
        f"Power state:      {shown['powerState'] or '<none>'} (spec)",
    ]
    if flags:
        lines.append(f"Note:             {'; '.join(flags)}")
    if shown["migration"]:
        lines.append(f"Migration:        {shown['migration']} in progress (the VM holds still)")
    lines += [
        "Platform:",
        f"  UUID:           {platform['uuid'] or '<none>'}",
        f"  Cluster/tenant: {platform['cluster'] or '<none>'} / {platform['tenant'] or '<none>'}",
        f"  Host:           {platform['host'] or '<none>'}",
        f"  State:          {platform['state'] or '<none>'} (action {platform['action'] or '<none>'}, "
        f"agent {platform['agent'] or '<none>'})",
        f"  CPUs/memory:    {platform['cpus'] or '<none>'} / {platform['memory'] or '<none>'}",
        f"  IPs:            {', '.join(platform['ips'] or []) or '<none>'}",
        "Pending changes:  "
        + (", ".join(shown["pendingChanges"]) + " (applied at the next stop)" if shown["pendingChanges"] else "none"),
    ]
    error = shown["lastError"]
    if error:
        scode = error.get("scode")
        lines += [
            "Last error:",
            f"  scode:          {scode if scode is not None else '<none> (the platform did not answer)'}",
            f"  operation:      {error.get('operation') or '<none>'}",
            f"  message:        {error.get('message') or '<none>'}",
            f"  message (cn):   {error.get('messageCn') or '<none>'}",
        ]
        lines += [f"  detail:         {error['desc']}"] if error.get("desc") else []
        lines += [f"  time:           {error.get('time') or '<none>'}"]
    else:
        lines.append("Last error:       none")
    lines.append("Conditions:")
    rows = [
        [c["type"], c["status"], c["reason"], age(c.get("lastTransitionTime"), now), c["message"]]
        for c in shown["conditions"]
    ]
    lines += _indent(table(rows, ("type", "status", "reason", "age", "message"))) if rows else ["  <none>"]
    lines.append("Events:")
    rows = [[age(e["time"], now), e["type"], e["reason"], e["count"], e["message"]] for e in shown["events"]]
    lines += _indent(table(rows, ("last seen", "type", "reason", "count", "message"))) if rows else ["  <none>"]
    return "\n".join(lines)


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]


def age(stamp: str | None, now: datetime) -> str:
    """kubectl's short age: 45s, 12m, 3h, 2d."""
    if not stamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class ProgressBar:
    """A migration's progress: redrawn in place on a terminal, one line per change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last: tuple[object, ...] | None = None

    def show(self, phase: str, percent: int, message: str) -> None:
        if (phase, percent, message) == self._last:
            return
        self._last = (phase, percent, message)
        done = BAR_WIDTH * percent // 100
        line = f"[{'#' * done}{'-' * (BAR_WIDTH - done)}] {percent:3d}%  {phase:<9}  {message}"
        if self._tty:
            self._stream.write("\r\033[K" + line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
