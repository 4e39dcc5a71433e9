"""--log-format json keeps every record, kopf's per-object ones included, as one JSON line each."""

from __future__ import annotations

import json
import logging

import kopf
import pytest

from vmop.logs import configure_logging

RECORDS = 70
BODY = {
    "apiVersion": "vmop.io/v1alpha1",
    "kind": "VirtualMachine",
    "metadata": {"name": "web-1", "namespace": "ns", "uid": "u-1"},
}


def test_kopf_object_records_are_all_kept_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    """kopf's ObjectLogger puts its settings (queues, locks) on every record; they used to make
    the JSON formatter fail ("cannot pickle '_queue.SimpleQueue'") and the record was lost."""
    configure_logging("INFO", "json")
    try:
        captured = _log_through_kopf(capsys)
    finally:
        logging.getLogger().handlers.clear()
    assert "Traceback" not in captured and "Logging error" not in captured, captured[:2000]
    lines = [json.loads(line) for line in captured.splitlines()]
    kopf_lines = [line for line in lines if line["name"] == "kopf.objects"]
    assert [line["message"] for line in kopf_lines] == [f"handler {n} succeeded" for n in range(RECORDS)]
    refs = {(line["k8s_namespace"], line["k8s_name"], line["k8s_kind"]) for line in kopf_lines}
    assert refs == {("ns", "web-1", "VirtualMachine")}
    assert all("settings" not in line for line in kopf_lines)
    assert lines[-1]["scode"] == 20926 and lines[-1]["k8s_name"] == "web-1"


def _log_through_kopf(capsys: pytest.CaptureFixture[str]) -> str:
    settings = kopf.OperatorSettings()
    loggers = [
        kopf.ObjectLogger(body=kopf.Body(BODY), settings=settings),
        kopf.LocalObjectLogger(body=kopf.Body(BODY), settings=settings),
    ]
    for number in range(RECORDS):
        loggers[number % 2].info("handler %d succeeded", number)
    logging.getLogger("vmop.test").warning("one of vmop's own", extra={"k8s_name": "web-1", "scode": 20926})
    return capsys.readouterr().err
