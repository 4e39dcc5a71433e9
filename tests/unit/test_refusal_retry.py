"""A refusal is retried with capped backoff, as a transient failure is: the observation it was
planned from may have been stale, or the platform busy under a code the doc does not name."""

from __future__ import annotations

import kopf
import pytest

from vmop.compute import ComputeError, ComputeProtocolError
from vmop.controller.objects import Outcome
from vmop.engine.backoff import PASS_BACKOFF
from vmop.handlers.objects import retry_or_wait


def delay_of(error: ComputeError, retry: int | None) -> float | None:
    try:
        retry_or_wait(Outcome(status=None, error=error), retry)
    except kopf.TemporaryError as exc:
        return exc.delay
    return None


@pytest.mark.parametrize("scode", [21002, 31003, 99999])
def test_any_refusal_is_retried_with_growing_capped_backoff(scode: int) -> None:
    refused = ComputeError("/v1/compute/start", scode, "refused")
    delays = [delay_of(refused, retry) or 0.0 for retry in (0, 1, 2, 30)]
    ceilings = [2.0, 4.0, 8.0, PASS_BACKOFF.cap]  # jitter takes at most a fifth off
    assert all(ceiling * (1 - PASS_BACKOFF.jitter) <= d <= ceiling for d, ceiling in zip(delays, ceilings, strict=True))


def test_the_resync_timer_waits_for_its_next_run_and_a_garbled_answer_is_not_retried() -> None:
    assert delay_of(ComputeError("/v1/compute/start", 21002), None) is None
    assert delay_of(ComputeProtocolError("/v1/compute/start", "html"), 0) is None
