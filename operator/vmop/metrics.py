"""Prometheus metrics: reconciles by kind and result, their duration, compute API requests by
endpoint and scode with latency, retries, objects by phase (VMs, migrations in flight), create
calls, the build (vmop_build_info), and the process (CPU, memory, file descriptors, GC) as
prometheus_client has them."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vmop import __version__
from vmop.compute.client import CallRecord

REGISTRY = CollectorRegistry(auto_describe=True)
# process_* (CPU seconds, resident memory, open fds, start time), python_info, python_gc_*.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

BUILD = Info("vmop_build", "The running vmop's version (python_info has Python's)", registry=REGISTRY)
BUILD.info({"version": __version__})

RECONCILES = Counter(
    "vmop_reconciles",
    "Reconcile passes, by kind and result (success, waiting, error)",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "vmop_reconcile_duration_seconds", "Duration of one reconcile pass", ["kind"], registry=REGISTRY
)
COMPUTE_REQUESTS = Counter(
    "vmop_compute_requests",
    "Compute API requests by endpoint and scode (none: no envelope)",
    ["endpoint", "scode"],
    registry=REGISTRY,
)
COMPUTE_SECONDS = Histogram(
    "vmop_compute_request_duration_seconds",
    "Compute API request latency",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
COMPUTE_RETRIES = Counter(
    "vmop_compute_retries", "Compute API attempts after the first", ["endpoint"], registry=REGISTRY
)
COMPUTE_UNREADABLE = Counter(
    "vmop_compute_unreadable_vms",
    "VMs of compute list pages that could not be read and were skipped (the log names them)",
    registry=REGISTRY,
)

# Every create call sent, by kind: a VM made twice for one object shows here first (the alert in
# charts/vmop/templates/prometheusrule.yaml compares it with the objects that asked).
CREATES = Counter("vmop_creates", "Create calls sent to the platform, by kind", ["kind"], registry=REGISTRY)
DUPLICATE_GUARD = Counter(
    "vmop_duplicate_guard_refusals",
    "Creates refused because the object already created a VM within the guard window",
    ["kind"],
    registry=REGISTRY,
)


def observe_call(record: CallRecord) -> None:
    """The compute client's observer."""
    endpoint = record.endpoint.removeprefix("/v1/compute/")
    COMPUTE_REQUESTS.labels(endpoint, "none" if record.scode is None else str(record.scode)).inc()
    COMPUTE_SECONDS.labels(endpoint).observe(record.seconds)
    if record.attempt > 1:
        COMPUTE_RETRIES.labels(endpoint).inc()
    if record.unreadable:
        COMPUTE_UNREADABLE.inc(record.unreadable)


class Phases(Collector):
    """The last phase seen of every object, by kind: vmop_objects{kind, phase}, computed at scrape time."""

    def __init__(self) -> None:
        self._phases: dict[str, dict[str, str]] = {}

    def set(self, kind: str, uid: str, phase: str | None) -> None:
        by_uid = self._phases.setdefault(kind, {})
        if phase is None:
            by_uid.pop(uid, None)
        else:
            by_uid[uid] = phase

    def count(self, kind: str, phase: str) -> int:
        return sum(1 for p in self._phases.get(kind, {}).values() if p == phase)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("vmop_objects", "Objects by kind and phase", labels=["kind", "phase"])
        for kind, by_uid in sorted(self._phases.items()):
            for phase, count in sorted(Tally(by_uid.values()).items()):
                family.add_metric([kind, phase], count)
        yield family


PHASES = Phases()
REGISTRY.register(PHASES)


_serving: set[int] = set()


def serve(port: int) -> None:
    """Expose /metrics on all interfaces (a thread; the operator's loop is not involved). Once per
    port: kopf retries a failed start-up, and the server from the first try is still up."""
    if port not in _serving:
        start_http_server(port, registry=REGISTRY)
        _serving.add(port)
