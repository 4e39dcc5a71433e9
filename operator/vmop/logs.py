"""Logging: text for people, JSON for log pipelines, with the object and the platform's words
(namespace, name, uuid, scode) as fields rather than buried in the message."""

from __future__ import annotations

import logging
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


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(VmopJsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO with its URL; vmop's metrics count them instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
