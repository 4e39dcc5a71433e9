"""Which platform list an object's next pass must see, from when its previous pass ended.

Each pass reads the shared list of its scope (compute/inventory.py) and needs one newer than its
own previous pass: a resync then sees something new, and all objects' resyncs share one list per
period however their timers are spread. A pass that acted (create, start, ...) set the platform
going (a boot, the guest agent); a list made moments later, say for another object's pre-create
check during a burst, would show it still under way and satisfy the next resync a period later,
which would then report the boot only at the period after. So after an acting pass the next one
wants a list made half a period later, once that moment has passed (a pass sooner, a retry or a
change, takes any list newer than the end, as a forced list each would cost one list per pass).
An object's first pass needs a list newer than the moment the engine first saw it (``arrived``):
a VM that merely shares its name is then seen, and a burst of new objects shares one list.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class _Ended:
    at: float
    settled: float  # when the platform should show what the pass's calls set going (= at if none)


class PassHistory(Generic[K]):
    def __init__(self, clock: Callable[[], float], settle_seconds: float) -> None:
        self._clock = clock
        self._settle = settle_seconds
        self._ended: dict[K, _Ended] = {}

    def list_needed_after(self, key: K) -> float:
        """The moment the platform list this object's next pass reads must have started after
        (the clock's now for an object not seen before)."""
        now = self._clock()
        ended = self._ended.get(key)
        if ended is None:
            return now
        return ended.settled if ended.settled <= now else ended.at

    def arrived(self, key: K) -> None:
        """The engine saw the object for the first time (in this process)."""
        if key not in self._ended:
            now = self._clock()
            self._ended[key] = _Ended(now, now)

    def ended(self, key: K, *, acted: bool) -> None:
        now = self._clock()
        self._ended[key] = _Ended(now, now + self._settle if acted else now)

    def forget(self, key: K) -> None:
        self._ended.pop(key, None)
