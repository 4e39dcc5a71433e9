"""The Grafana dashboard queries metrics vmop really exports, under their exposed names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from vmop import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "vmop-dashboard.json"


def exported_names() -> set[str]:
    metrics.RECONCILES.labels("VirtualMachine", "success")
    metrics.RECONCILE_SECONDS.labels("VirtualMachine")
    metrics.COMPUTE_REQUESTS.labels("start", "0")
    metrics.COMPUTE_SECONDS.labels("start")
    metrics.COMPUTE_RETRIES.labels("start")
    metrics.CREATES.labels("VirtualMachine")
    metrics.PHASES.set("VirtualMachine", "uid", "Running")
    text = generate_latest(metrics.REGISTRY).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_dashboard_query_uses_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\b(vmop_[a-z_]+)", expr)}
    assert used
    assert used <= exported_names(), used - exported_names()
