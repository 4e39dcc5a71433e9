"""Log levels: kopf logs each retried API request as ERROR; those are re-levelled
(vmop.logs.KopfLevels), everything else keeps kopf's level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import kopf
import pytest

from vmop.logs import KopfLevels


@pytest.fixture
def kopf_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("kopf.test")
    logger.setLevel(logging.INFO)
    expected = KopfLevels()
    logger.addFilter(expected)
    yield logger
    logger.removeFilter(expected)


def test_other_errors_stay_errors(kopf_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        try:
            raise kopf.TemporaryError("something unexpected", delay=1)
        except kopf.TemporaryError as caught:
            kopf_logger.error(f"Handler 'x' failed temporarily: {caught}")
        kopf_logger.error("no exception at hand")
    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR"]


def test_a_request_kopf_retries_is_a_warning_and_its_escalation_an_error(
    kopf_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        kopf_logger.error("Request attempt #1/9 failed; will retry: GET /apis/vmop.io -> 429")
        kopf_logger.error("Request attempt #9/9 failed; escalating: GET /apis/vmop.io -> 429")
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]


def test_vmops_own_errors_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("vmop.test")
    logger.addFilter(KopfLevels())
    with caplog.at_level(logging.DEBUG):
        logger.error("Request attempt #1/9 failed; will retry: not kopf's")
    assert [r.levelname for r in caplog.records] == ["ERROR"]


def test_the_watch_handlers_success_is_debug(kopf_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    """One line per watch event of every object at INFO would drown the log (10,000 VMs)."""
    with caplog.at_level(logging.DEBUG):
        kopf_logger.info("Handler 'watch' succeeded.")
        kopf_logger.info("Handler 'watch' is invoked.")
    assert [r.getMessage() for r in caplog.records] == ["Handler 'watch' is invoked."]
