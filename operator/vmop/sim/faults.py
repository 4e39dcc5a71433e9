"""What the simulator can be told to do wrong, and how long its asynchronous actions take.

Deterministic: every random draw comes from one ``random.Random(seed)``.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field


class Timings(BaseModel):
    """Durations of the platform's asynchronous effects, in seconds."""

    model_config = ConfigDict(extra="forbid")

    boot: float = Field(default=1.0, ge=0, description="start -> guest agent connected")
    guest_shutdown: float = Field(default=1.0, ge=0, description="shutdown request -> shut off")
    migration: float = Field(default=3.0, ge=0)
    clone: float = Field(default=2.0, ge=0)


class Faults(BaseModel):
    """Faults to inject. Endpoint keys are paths without the /v1/compute/ prefix; "*" matches any."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, description="seed of every random draw (--random-seed)")
    latency_ms: float = Field(default=0, ge=0, description="added to every call")
    http_error_rate: dict[str, float] = Field(default_factory=dict, description="share of calls answered HTTP 503")
    timeout_rate: dict[str, float] = Field(default_factory=dict, description="share of calls that hang past timeouts")
    hang_seconds: float = Field(default=30.0, ge=0, description="how long a 'timed out' call hangs")
    response_delay_ms: dict[str, float] = Field(
        default_factory=dict, description="answer this late after doing the work (a caller may die meanwhile)"
    )
    late_execution_ms: dict[str, float] = Field(
        default_factory=dict,
        description="hold the request this long, then do the work even if the caller gave up meanwhile "
        "(a create that timed out at the client and is executed after)",
    )
    forced_scode: dict[str, int] = Field(default_factory=dict, description="endpoint -> scode it always answers")
    forced_scode_calls: dict[str, int] = Field(
        default_factory=dict,
        description="endpoint -> how many of its calls forced_scode refuses before it works again (unset: all)",
    )
    echo_headers: bool = Field(
        default=False,
        description="refusals quote the request's headers in desc, credentials included, as a careless gateway does",
    )
    echo_body: bool = Field(
        default=False,
        description="injected refusals quote the request's body and query in desc, secrets included, as a careless "
        "platform does",
    )
    guest_ignores_shutdown: bool = Field(default=False, description="shutdown succeeds, the guest never stops")
    no_guest_agent: bool = Field(default=False, description="guest agents never connect")
    migration_fails: bool = Field(default=False, description="migrations fail when they would finish")
    unreachable_hosts: list[str] = Field(default_factory=list, description="host ips cross-cluster cannot reach")


class FaultDice:
    """Draws the injected failures for one endpoint at a time."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._refusals_left = dict(faults.forced_scode_calls)

    def _rate(self, table: dict[str, float], endpoint: str) -> float:
        return table.get(endpoint, table.get("*", 0.0))

    def http_error(self, endpoint: str) -> bool:
        rate = self._rate(self.faults.http_error_rate, endpoint)
        return rate > 0 and self._rng.random() < rate

    def timeout(self, endpoint: str) -> bool:
        rate = self._rate(self.faults.timeout_rate, endpoint)
        return rate > 0 and self._rng.random() < rate

    def response_delay(self, endpoint: str) -> float:
        table = self.faults.response_delay_ms
        return table.get(endpoint, table.get("*", 0.0)) / 1000

    def late_execution(self, endpoint: str) -> float:
        table = self.faults.late_execution_ms
        return table.get(endpoint, table.get("*", 0.0)) / 1000

    def forced_scode(self, endpoint: str, *, wildcard: bool = True) -> int | None:
        """The scode to refuse this call with, counting it against forced_scode_calls."""
        table = self.faults.forced_scode
        key = endpoint if endpoint in table or not wildcard else "*"
        if key not in table:
            return None
        left = self._refusals_left.get(key)
        if left is not None:
            if left <= 0:
                return None
            self._refusals_left[key] = left - 1
        return table[key]
