"""kopf's peering pauses an operator when a peer of higher (or equal) priority appears, and
resumes it when that peer is gone. kopf pauses only its own watch streams, though, while vmop's
engine runs passes and resyncs from its stores: an operator paused after it started would keep
acting beside the peer that took over. kopf tells nobody but its log, so vmop follows its
peering logger's two messages and pauses the engine with it. `--lease` needs none of this (the
engine itself follows the Lease, runtime/lease.py); `tests/integration/test_faults.py` checks
that the messages still come with the kopf in use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

KOPF_PEERING_LOGGER = "kopf._core.engines.peering"
PAUSING = ("Pausing operations in favour of", "Pausing all operators, including self")
RESUMING = "Resuming operations after the pause"


class PeeringFollower(logging.Filter):
    """A filter on kopf's peering logger: it hears every record (the logger is set to INFO, as
    kopf says both at INFO), and lets on only those the operator's own level would log."""

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        super().__init__()
        self._on_change = on_change  # True: kopf lets this operator act
        self._level = logging.NOTSET  # the peering logger's own level before: restored at uninstall

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(PAUSING):
            self._on_change(False)
        elif message.startswith(RESUMING):
            self._on_change(True)
        return record.levelno >= logging.getLogger().getEffectiveLevel()

    def install(self) -> None:
        kopf_logger = logging.getLogger(KOPF_PEERING_LOGGER)
        self._level = kopf_logger.level
        kopf_logger.setLevel(logging.INFO)
        kopf_logger.addFilter(self)

    def uninstall(self) -> None:
        kopf_logger = logging.getLogger(KOPF_PEERING_LOGGER)
        kopf_logger.removeFilter(self)
        kopf_logger.setLevel(self._level)
