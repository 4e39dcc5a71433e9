"""A planned compute API call: which endpoint, with which (already validated) request, and why."""

from __future__ import annotations

from dataclasses import dataclass

from vmop.compute.models import RequestModel


@dataclass(frozen=True)
class Call:
    operation: str  # the endpoint path after /v1/compute/, e.g. "start", "vcpu/set"
    request: RequestModel
    reason: str  # for events and logs: why vmop makes this call
    # What vmop records once the call succeeds: the spec device (by name) an attach/detach is for
    # (what it owns), or the vmop.io/restart value a reboot answers.
    owner: str = ""

    def __str__(self) -> str:
        return f"{self.operation} ({self.reason})"
