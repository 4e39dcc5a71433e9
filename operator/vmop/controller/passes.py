"""Which platform list an object's next pass must see, from when its previous pass ended.

Each pass reads the shared list of its scope (compute/inventory.py) and needs one newer than its
own previous pass: a resync then sees something new, and all objects' resyncs share one list per
period however their timers are spread. A pass that acted (create, start, ...) set the platform
going (a boot, the guest agent); a list made moments later, say for another object's pre-create
check during a burst, would show it still under way and satisfy the next resync a period later,
which would then report the boot only at the period after. So after an acting pass the next one
wants a list made half a period later, once that moment has passed (a pass sooner, a retry or a
change, takes any list newer than the end, as a forced list each would cost one list per pass).
A pass may also ask to be looked at again sooner than a period (a new VM's host and guest agent:
reconcile Plan.refresh_after); the resync timer asks ``look_due``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Ended:
    at: float
    settled: float  # when the platform should show what the pass's calls set going (= at if none)
    look_at: float | None = None  # when the pass asked to be looked at again, if it did


class PassHistory:
    def __init__(self, clock: Callable[[], float], settle_seconds: float) -> None:
        self._clock = clock
        self._settle = settle_seconds
        self._ended: dict[str, _Ended] = {}

    def list_needed_after(self, key: str) -> float:
        """The moment the platform list this object's next pass reads must have started after
        (the clock's now for an object not seen before)."""
        now = self._clock()
        ended = self._ended.get(key)
        if ended is None:
            return now
        return ended.settled if ended.settled <= now else ended.at

    def has_passed(self, key: str) -> bool:
        """Whether a pass of this object has ended (in this process)."""
        return key in self._ended

    def ended(self, key: str, *, acted: bool, look_after: float | None = None) -> None:
        now = self._clock()
        look_at = now + look_after if look_after is not None else None
        self._ended[key] = _Ended(now, now + self._settle if acted else now, look_at)

    def look_due(self, key: str) -> float | None:
        """Seconds until the look the object's last pass asked for (0 or less: now); None if it
        asked none."""
        ended = self._ended.get(key)
        if ended is None or ended.look_at is None:
            return None
        return ended.look_at - self._clock()

    def forget(self, key: str) -> None:
        self._ended.pop(key, None)
