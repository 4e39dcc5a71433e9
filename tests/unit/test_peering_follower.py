"""vmop's engine follows kopf's peering pauses (runtime/peering.py), told by kopf's own log."""

from __future__ import annotations

import logging

import pytest

from vmop.runtime.peering import KOPF_PEERING_LOGGER, PeeringFollower


def test_kopfs_pause_and_resume_messages_close_and_open_the_gate(caplog: pytest.LogCaptureFixture) -> None:
    """Heard whatever --log-level says (kopf says them at INFO), and logged only as it says."""
    caplog.set_level(logging.WARNING)
    said: list[bool] = []
    follower = PeeringFollower(said.append)
    follower.install()
    kopf_logger = logging.getLogger(KOPF_PEERING_LOGGER)
    try:
        kopf_logger.info("Resuming operations after the pause. Conflicting operators with the same priority are gone.")
        kopf_logger.info("Pausing operations in favour of [Peer(a, priority=200)].")
        kopf_logger.warning("Possibly conflicting operators with the same priority: [Peer(b, priority=0)].")
        kopf_logger.warning("Pausing all operators, including self: [Peer(b, priority=0)]")
        kopf_logger.info("Resuming operations after the pause.")
    finally:
        follower.uninstall()
    kopf_logger.info("Pausing operations in favour of [Peer(c)].")  # uninstalled: not heard
    assert said == [True, False, False, True]
    assert [r.levelname for r in caplog.records if r.name == KOPF_PEERING_LOGGER] == ["WARNING", "WARNING"]
