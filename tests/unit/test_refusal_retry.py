"""A refusal is retried with the queue's backoff, as a transient failure is: the observation it was
planned from may have been stale, or the platform busy under a code the doc does not name."""

from __future__ import annotations

import pytest

from vmop.compute import ComputeError, ComputeProtocolError, ComputeUnavailable
from vmop.controller.objects import Outcome
from vmop.controller.passes import result_of
from vmop.engine import Done, Failed, RequeueAfter


@pytest.mark.parametrize("scode", [21002, 31003, 99999])
def test_any_refusal_is_retried_with_the_queues_backoff(scode: int) -> None:
    assert result_of(Outcome(None, error=ComputeError("/v1/compute/start", scode, "refused"))) == Failed()


def test_an_unreachable_platform_is_retried_and_a_garbled_answer_waits_for_the_resync() -> None:
    assert result_of(Outcome(None, error=ComputeUnavailable("/v1/compute/start", "no route"))) == Failed()
    assert result_of(Outcome(None, error=ComputeProtocolError("/v1/compute/start", "html"))) == Done()


def test_a_pass_comes_back_at_the_sooner_of_its_requeue_and_its_look() -> None:
    assert result_of(Outcome(None, requeue_after=5.0, refresh_after=2.0)) == RequeueAfter(2.0)
    assert result_of(Outcome(None, requeue_after=5.0)) == RequeueAfter(5.0)
    assert result_of(Outcome(None)) == Done()
