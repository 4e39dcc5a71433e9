"""One kind's engine: which views queue a pass, and the watch handler that feeds it."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import kopf

from tests.support.clock import settle
from vmop.api.annotations import FINALIZER
from vmop.controller.objects import ObjectView, view_of
from vmop.engine import Done, Result
from vmop.engine.freshness import PassHistory
from vmop.engine.kind import KindEngine
from vmop.engine.store import Key, Store
from vmop.handlers.watch import into_store, on_event
from vmop.runtime.compose import VM_TRIGGERS, needs_pass


def body(name: str, rv: int, *, generation: int = 1, **extra: Any) -> dict[str, Any]:
    metadata = {"namespace": "ns", "name": name, "uid": f"uid-{name}", "generation": generation}
    metadata |= {"resourceVersion": str(rv)} | extra.pop("metadata", {})
    return {"apiVersion": "vmop.io/v1alpha1", "kind": "VirtualMachine", "metadata": metadata, **extra}


class Recorder:
    def __init__(self) -> None:
        self.passes: list[Key] = []

    async def __call__(self, key: Key) -> Result:
        self.passes.append(key)
        return Done()


def engine(recorder: Recorder, clock: list[float]) -> KindEngine[ObjectView]:
    history: PassHistory[Key] = PassHistory(lambda: clock[0], settle_seconds=1.0)
    return KindEngine(
        "virtualmachines",
        Store(),
        recorder,
        needs_pass(VM_TRIGGERS),
        history=history,
        max_in_flight=2,
        resync_seconds=3600,
    )


async def test_a_new_object_a_new_generation_and_a_persons_annotation_queue_a_pass_a_status_write_does_not() -> None:
    recorder, clock = Recorder(), [100.0]
    vms = engine(recorder, clock)
    vms.start()
    try:
        first = view_of(body("a", 1))
        vms.observe(first)
        await settle()
        assert recorder.passes == [("ns", "a")]
        assert vms.history.list_needed_after(("ns", "a")) == 100.0  # its first list: newer than its arrival
        vms.observe(replace(first, resource_version="2", status={"phase": "Running"}))  # vmop's own write
        await settle()
        assert recorder.passes == [("ns", "a")]
        vms.observe(replace(first, resource_version="3", generation=2))
        await settle()
        vms.observe(replace(first, resource_version="4", generation=2, annotations={"vmop.io/paused": "true"}))
        await settle()
        vms.observe(replace(first, resource_version="5", generation=2, annotations={"example.com/x": "y"}))
        vms.observe(replace(first, resource_version="6", generation=2, deleting=True))
        await settle()
        assert recorder.passes == [("ns", "a")] * 4
    finally:
        await vms.shutdown(1.0)


async def test_the_answer_to_the_release_of_the_last_finalizer_leaves_the_object_gone() -> None:
    """The apiserver answers the write that removed a deleting object's last finalizer with the
    resourceVersion from before it (bench/ saw passes queued meanwhile release a second time, 404)."""
    recorder, clock = Recorder(), [100.0]
    vms = engine(recorder, clock)
    vms.start()
    try:
        deleting = view_of(
            body("a", 5, metadata={"deletionTimestamp": "2026-12-04T00:00:00Z", "finalizers": [FINALIZER]})
        )
        vms.observe(deleting)
        await settle()
        assert recorder.passes == [("ns", "a")]
        vms.observe(replace(deleting, finalizers=()))  # the release's answer, at the same resourceVersion
        assert vms.store.get(("ns", "a")) is None
        vms.observe(deleting)  # an echo from before the release: not taken back
        assert vms.store.get(("ns", "a")) is None
        vms.gone(("ns", "a"), "9")  # the watch's DELETED event
        await settle()
        assert recorder.passes == [("ns", "a")]
    finally:
        await vms.shutdown(1.0)


async def test_the_store_fills_from_kopfs_index_handler_and_passes_begin_with_the_first_event() -> None:
    """kopf runs index handlers for the whole first listing of every kind before any event
    handler: the queues start only then, so no pass sees a store that lacks a listed object."""
    recorder, clock = Recorder(), [0.0]
    vms = engine(recorder, clock)
    runtime = SimpleNamespace(engines=lambda: {"virtualmachines": vms}, starts=0)

    def start() -> None:  # as Runtime.start: once
        if not runtime.starts:
            vms.start()
        runtime.starts += 1

    runtime.start = start
    memo = kopf.Memo()
    memo.runtime = runtime
    resource = kopf.Resource("vmop.io", "v1alpha1", "virtualmachines")
    big = body("a", 7, spec={"memory": "1Gi"}, status={"phase": "Running", "kopf": {"progress": {}}})
    big["metadata"]["managedFields"] = [{"manager": "kubectl"}] * 100
    big["metadata"]["labels"] = {f"l{i}": "x" for i in range(1000)}
    assert await into_store(body=kopf.Body(big), resource=resource, memo=memo) is None  # no kopf index entry
    held = vms.store.get(("ns", "a"))
    assert held is not None
    assert held.status == {"phase": "Running"} and held.spec == {"memory": "1Gi"}  # no labels, no kopf
    await settle()
    assert recorder.passes == [], "no pass before the stores are synced"
    try:
        await on_event(event={"type": None, "object": big}, resource=resource, memo=memo)
        await settle()
        assert recorder.passes == [("ns", "a")]
        await on_event(event={"type": "DELETED", "object": body("a", 9)}, resource=resource, memo=memo)
        assert vms.store.get(("ns", "a")) is None
        await into_store(body=kopf.Body(body("a", 8)), resource=resource, memo=memo)
        assert vms.store.get(("ns", "a")) is None  # an event from before the deletion
    finally:
        await vms.shutdown(1.0)


async def test_an_engine_stores_every_object_and_queues_only_those_it_owns() -> None:
    """With shards, every process watches everything (passes read other shards' objects) and acts
    only on its own: a new object, a change, a wake and the resync's keys all pass through ``owns``."""
    recorder = Recorder()
    vms: KindEngine[ObjectView] = KindEngine(
        "virtualmachines",
        Store(),
        recorder,
        needs_pass(VM_TRIGGERS),
        owns=lambda view: view.name.startswith("mine"),
        max_in_flight=2,
        resync_seconds=3600,
    )
    vms.start()
    try:
        for name in ("mine-1", "theirs-1"):
            vms.observe(view_of(body(name, 1)))
        vms.observe(view_of(body("theirs-1", 2, generation=2)))
        vms.wake(("ns", "theirs-1"))
        vms.wake(("ns", "unknown"))
        await settle()
        assert recorder.passes == [("ns", "mine-1")]
        assert len(vms.store) == 2
        assert vms.owned_keys() == [("ns", "mine-1")]
        vms.pause()
        vms.wake(("ns", "mine-1"))
        await settle()
        assert recorder.passes == [("ns", "mine-1")]
        vms.resume()
        await settle()
        assert recorder.passes == [("ns", "mine-1")] * 2, "resumed, it looks at what it owns again"
    finally:
        await vms.shutdown(1.0)


def test_views_of_objects_parsed_apart_share_their_field_names_and_short_values_not_long_ones() -> None:
    """10,000 views hold one copy of each field name and common value (controller/objects.py)."""

    def parsed(name: str) -> dict[str, Any]:  # as the watch parses each event: fresh strings
        text = json.dumps(body(name, 1, spec={"cluster": "c27a25bc", "notes": "n" * 100}, status={"phase": "Running"}))
        return dict(json.loads(text))

    first, second = view_of(kopf.Body(parsed("a"))), view_of(kopf.Body(parsed("b")))
    assert first.spec == {"cluster": "c27a25bc", "notes": "n" * 100} and second.status == {"phase": "Running"}
    (key_a, value_a), (key_b, value_b) = next(iter(first.spec.items())), next(iter(second.spec.items()))
    assert key_a is key_b and value_a is value_b
    assert first.status["phase"] is second.status["phase"]
    assert first.spec["notes"] is not second.spec["notes"], "a long value is kept as it came"
