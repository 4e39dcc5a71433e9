"""Logging: text for people, JSON for log pipelines, with the object and the platform's words
(namespace, name, uuid, scode) as fields rather than buried in the message."""

from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What kopf's per-object logger (ObjectLogger) adds to each record: its settings (queues and
# locks, which cannot be copied or serialised: such records were dropped with "cannot pickle
# '_queue.SimpleQueue'"), whether to post an Event, and the object's reference.
KOPF_RECORD_ATTRS = ("settings", "k8s_skip", "k8s_ref")


class VmopJsonFormatter(JsonFormatter):
    """JSON lines; kopf's object reference becomes the same fields vmop's own records carry."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
            reserved_attrs=[*RESERVED_ATTRS, *KOPF_RECORD_ATTRS],
        )

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            for field, key in (("k8s_kind", "kind"), ("k8s_namespace", "namespace"), ("k8s_name", "name")):
                if ref.get(key):
                    log_record.setdefault(field, ref[key])


# kopf retries a failed Kubernetes API request (429, 5xx, a lost connection) and logs each retry as
# ERROR; only the last attempt ("...failed; escalating") needs a person.
KOPF_REQUEST_RETRY = re.compile(r"^Request attempt \S+ failed; will retry: ")
# kopf logs each event handler's success at INFO: one line per watch event of every object.
KOPF_HANDLER_SUCCESS = re.compile(r"^Handler '[^']+' succeeded\.$")


class KopfLevels(logging.Filter):
    """kopf's routine records at their level for vmop (dropped where that level is not logged):
    a Kubernetes API request kopf will try again (a watch) is logged as ERROR, and is a WARNING;
    the last attempt ("...failed; escalating") stays an ERROR: it needs a person. The success of
    the handler that hands each watch event to the engine is logged at INFO, and is DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf"):
            return True
        if record.levelno >= logging.ERROR and KOPF_REQUEST_RETRY.match(record.getMessage()):
            level = logging.WARNING
        elif record.levelno == logging.INFO and KOPF_HANDLER_SUCCESS.match(record.getMessage()):
            level = logging.DEBUG
        else:
            return True
        record.levelno, record.levelname = level, logging.getLevelName(level)
        return logging.getLogger(record.name).isEnabledFor(level)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(VmopJsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    handler.addFilter(KopfLevels())
    # httpx logs every request at INFO with its URL; vmop's metrics count them instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
