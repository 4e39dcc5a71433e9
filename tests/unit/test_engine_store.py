"""The engine's store: the newest view of each object by resourceVersion, from the watch or from
the answer to vmop's own write, with tombstones and secondary indexes."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from hypothesis import given
from hypothesis import strategies as st

from vmop.controller.objects import ObjectView
from vmop.engine.store import TOMBSTONES, Store, newer


def view(name: str, rv: int | str, *, uuid: str | None = None, namespace: str = "ns") -> ObjectView:
    status = {"uuid": uuid} if uuid else {}
    return ObjectView(namespace, name, f"uid-{name}", 1, {}, status, {}, resource_version=str(rv))


def by_uuid(v: ObjectView) -> Iterable[Hashable]:
    return [v.status["uuid"]] if v.status.get("uuid") else []


def test_a_write_answer_newer_than_the_watch_is_read_until_the_watch_catches_up() -> None:
    store: Store[ObjectView] = Store()
    store.put(view("a", 10))
    written = view("a", 12, uuid="u1")  # this process's status write
    assert store.put(written) is not None
    assert store.put(view("a", 11)) is not None  # the watch, one event behind: not taken
    assert store.get(("ns", "a")) == written
    echo = view("a", 12, uuid="u1")
    assert store.put(echo) is echo  # the echo: nothing new
    later = view("a", 13, uuid="u1")
    store.put(later)
    assert store.get(("ns", "a")) == later


def test_resource_versions_compare_as_numbers_when_decimal_else_by_difference() -> None:
    assert newer("100", "99") and not newer("99", "100") and not newer("7", "7")
    assert newer("abc", "abd") and not newer("abc", "abc")


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30))
def test_whatever_the_order_of_arrival_the_store_holds_the_newest(versions: list[int]) -> None:
    store: Store[ObjectView] = Store()
    for rv in versions:
        store.put(view("a", rv))
    found = store.get(("ns", "a"))
    assert found is not None and int(found.resource_version) == max(versions)


def test_a_write_answer_after_the_deletion_does_not_bring_the_object_back() -> None:
    store: Store[ObjectView] = Store({"uuid": by_uuid})
    store.put(view("a", 10, uuid="u1"))
    store.remove(("ns", "a"), "15")
    late = view("a", 14, uuid="u1")  # raced the deletion
    assert store.put(late) is late
    assert store.get(("ns", "a")) is None and store.lookup("uuid", "u1") == []
    again = view("a", 20)  # made again under the same name
    assert store.put(again) is None and store.get(("ns", "a")) == again


def test_tombstones_are_bounded() -> None:
    store: Store[ObjectView] = Store()
    for i in range(TOMBSTONES + 5):
        store.remove(("ns", f"o{i}"), "1")
    assert store.put(view("o0", 1)) is None  # the oldest tombstone is forgotten


def test_secondary_indexes_follow_each_view() -> None:
    store: Store[ObjectView] = Store({"uuid": by_uuid})
    store.put(view("a", 1, uuid="u1"))
    store.put(view("b", 1, uuid="u1"))
    assert [v.name for v in store.lookup("uuid", "u1")] == ["a", "b"]
    store.put(view("a", 2, uuid="u2"))  # a moved on to another uuid
    assert [v.name for v in store.lookup("uuid", "u1")] == ["b"]
    assert [v.name for v in store.lookup("uuid", "u2")] == ["a"]
    store.remove(("ns", "b"), "2")
    assert store.lookup("uuid", "u1") == [] and len(store) == 1
