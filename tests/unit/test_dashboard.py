"""The Grafana dashboard queries metrics vmop really exports, under their exposed names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vmop import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "vmop-dashboard.json"


# The series each kind of metric family exports, whether or not it has a sample yet.
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def exported_names() -> set[str]:
    return {
        family.name + suffix
        for family in metrics.REGISTRY.collect()
        for suffix in SERIES_SUFFIXES.get(family.type, ("",))
    }


def test_every_dashboard_query_uses_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\b(vmop_[a-z_]+)", expr)}
    assert used
    assert used <= exported_names(), used - exported_names()
