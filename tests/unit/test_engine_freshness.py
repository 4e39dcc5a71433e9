"""The one rule of list freshness (engine/freshness.py)."""

from __future__ import annotations

from vmop.engine.freshness import PassHistory


class Tick:
    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


def test_a_pass_sooner_than_the_settling_takes_any_list_newer_than_the_acting_pass() -> None:
    clock = Tick(100.0)
    history: PassHistory[str] = PassHistory(clock.now, settle_seconds=15.0)
    assert history.list_needed_after("a") == 100.0  # never seen: a list from now on
    history.ended("a", acted=True)
    clock.advance(2)
    assert history.list_needed_after("a") == 100.0  # a retry: no list forced per pass
    clock.advance(20)
    assert history.list_needed_after("a") == 115.0
    history.ended("a", acted=False)
    assert history.list_needed_after("a") == 122.0
    history.forget("a")
    assert history.list_needed_after("a") == 122.0  # forgotten: as never seen, now


def test_a_first_pass_needs_a_list_newer_than_the_moment_the_object_arrived() -> None:
    """A burst: objects queued behind each other share the list that followed their arrival."""
    clock = Tick(100.0)
    history: PassHistory[str] = PassHistory(clock.now, settle_seconds=15.0)
    history.arrived("a")
    clock.advance(30)  # queued behind others
    assert history.list_needed_after("a") == 100.0
    history.arrived("a")  # seen again (a change) before its pass: its arrival stays
    assert history.list_needed_after("a") == 100.0
    history.ended("a", acted=False)
    clock.advance(1)
    history.arrived("a")  # known: its last pass rules
    assert history.list_needed_after("a") == 130.0


def test_a_look_for_news_needs_a_list_made_half_its_delay_after_the_pass() -> None:
    """A new VM's boot look in 2 s: a list another pass made moments after shows the boot under way;
    looks due within 1 s of each other share one list."""
    clock = Tick(100.0)
    history: PassHistory[str] = PassHistory(clock.now, settle_seconds=15.0)
    history.ended("a", acted=True, look_in=2.0)
    clock.advance(0.5)
    assert history.list_needed_after("a") == 100.0  # sooner (a change): any list after the pass
    clock.advance(1.5)
    assert history.list_needed_after("a") == 101.0  # due: a list made from a second after the pass
    history.ended("a", acted=False, look_in=4.0)  # found half the news: looks again
    clock.advance(4)
    assert history.list_needed_after("a") == 104.0
    history.ended("a", acted=True, look_in=40.0)  # a look later than the settling: the settling rules
    clock.advance(40)
    assert history.list_needed_after("a") == 121.0
