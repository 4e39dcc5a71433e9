"""Log levels: kopf logs each retry a handler asks for, and each retried API request, as ERROR;
vmop's expected waits and kopf's retried requests are re-levelled (vmop.logs.KopfLevels),
everything else keeps kopf's level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import kopf
import pytest

from vmop.handlers.objects import Wait
from vmop.logs import KopfLevels


@pytest.fixture
def kopf_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("kopf.test")
    logger.setLevel(logging.INFO)
    expected = KopfLevels()
    logger.addFilter(expected)
    yield logger
    logger.removeFilter(expected)


def log_as_kopf_does(logger: logging.Logger, error: Exception) -> None:
    """kopf's execute_handler_once: the outcome is logged inside the except that caught it."""
    try:
        raise error
    except kopf.TemporaryError as caught:
        logger.error(f"Handler 'delete' failed temporarily: {caught}")


def test_an_expected_wait_is_logged_at_its_own_level(
    kopf_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        log_as_kopf_does(kopf_logger, Wait("children first", delay=5, log_level=logging.INFO))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "Handler 'delete' failed temporarily: children first")
    ]


def test_a_wait_below_the_loggers_level_is_dropped(
    kopf_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        log_as_kopf_does(kopf_logger, Wait("waiting for the platform", delay=2, log_level=logging.DEBUG))
    assert caplog.records == []


def test_other_errors_stay_errors(kopf_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        log_as_kopf_does(kopf_logger, kopf.TemporaryError("something unexpected", delay=1))
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
        try:
            raise Wait("x", delay=1, log_level=logging.DEBUG)
        except Wait:
            logger.error("Request attempt #1/9 failed; will retry: not kopf's")
    assert [r.levelname for r in caplog.records] == ["ERROR"]
