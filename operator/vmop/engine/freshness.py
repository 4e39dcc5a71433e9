"""Which platform list an object's next pass must see, from when its previous pass ended.

Each pass reads the shared list of its scope (compute/inventory.py) and needs one newer than its
own previous pass: a resync then sees something new, and all objects' resyncs share one list per
period however their timers are spread. A pass that acted (create, start, ...) set the platform
going (a boot, the guest agent); a list made moments later, say for another object's pre-create
check during a burst, would show it still under way and satisfy the next resync a period later,
which would then report the boot only at the period after. So after an acting pass the next one
wants a list made half a period later, once that moment has passed (a pass sooner, a retry or a
change, takes any list newer than the end, as a forced list each would cost one list per pass).
A pass that asked to look again for news in d seconds (a new VM's host and guest agent) wants,
by the same rule, a list made d/2 after it ended: a list another object's pass made moments after
it shows what this pass saw, and the look would then find half the news and ask again (bench/ saw
29 of 100 new VMs written three times for one boot: the host, then the agent). Wanting the list
made when the look is due instead cost a list per look (25 for 100 new VMs coming due one by one);
with d/2, looks due within d/2 of each other share one.
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

    def ended(self, key: K, *, acted: bool, look_in: float | None = None) -> None:
        """``look_in``: the pass asked to look for news this many seconds from now."""
        now = self._clock()
        waits = ([self._settle] if acted else []) + ([look_in / 2] if look_in is not None else [])
        self._ended[key] = _Ended(now, now + min(waits, default=0.0))

    def forget(self, key: K) -> None:
        self._ended.pop(key, None)
