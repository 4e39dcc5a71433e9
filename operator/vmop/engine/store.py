"""The engine's cache of one kind's objects (client-go's informer store): the newest view of each
object, from the watch or from the answer to this process's own write, whichever is newer by
resourceVersion. One mechanism for every kind: a pass that follows a write reads what was written
even when the watch has not echoed it yet, and a watch event older than that write is not taken.

resourceVersions are opaque to clients in Kubernetes' contract, but etcd's are one increasing
integer: two decimal ones are compared as numbers. A non-decimal one (another storage) is taken as
newer unless equal: the watch delivers in order, and only the write-versus-echo race is lost.

A deleted object leaves a tombstone (its last resourceVersion): the answer to a write that raced
its deletion, arriving after the watch said it was gone, does not bring it back.

Secondary indexes (``indexers``: an index name -> the index keys of a view) answer "which objects
name this uuid / this VmGroup / this VirtualMachine" without a scan.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar

Key = tuple[str, str]  # (namespace, name)
TOMBSTONES = 10_000  # the most recent deletions remembered


class Viewed(Protocol):
    @property
    def key(self) -> Key: ...

    @property
    def resource_version(self) -> str: ...

    @property
    def deleting(self) -> bool: ...

    @property
    def finalizers(self) -> tuple[str, ...]: ...


V = TypeVar("V", bound=Viewed)
Indexer = Callable[[V], Iterable[Hashable]]


def newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion ``candidate`` is newer than ``current``."""
    if candidate.isdecimal() and current.isdecimal():
        return int(candidate) > int(current)
    return candidate != current


class Store(Generic[V]):
    def __init__(self, indexers: Mapping[str, Indexer[V]] | None = None) -> None:
        self._views: dict[Key, V] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[Hashable, set[Key]]] = {name: {} for name in self._indexers}
        self._tombstones: OrderedDict[Key, str] = OrderedDict()

    def put(self, view: V) -> V | None:
        """Keep ``view`` unless the store holds a newer one of its object. Returns the view it
        replaced (None for an object not seen before); ``view`` itself if it was not taken."""
        old = self._views.get(view.key)
        if old is not None and not newer(view.resource_version, old.resource_version):
            return view
        deleted = self._tombstones.get(view.key)
        if deleted is not None:
            if not newer(view.resource_version, deleted):
                return view
            del self._tombstones[view.key]  # made again under the same name
        self._unindex(old)
        self._views[view.key] = view
        for name, indexer in self._indexers.items():
            index = self._indexes[name]
            for value in indexer(view):
                index.setdefault(value, set()).add(view.key)
        return old

    def remove(self, key: Key, resource_version: str) -> None:
        """The object is deleted; its last view had ``resource_version``."""
        self._unindex(self._views.pop(key, None))
        self._tombstones[key] = resource_version
        self._tombstones.move_to_end(key)
        if len(self._tombstones) > TOMBSTONES:
            self._tombstones.popitem(last=False)

    def get(self, key: Key) -> V | None:
        return self._views.get(key)

    def keys(self) -> list[Key]:
        return list(self._views)

    def views(self) -> list[V]:
        return list(self._views.values())

    def lookup(self, index: str, value: Hashable) -> list[V]:
        """The views whose index ``index`` holds ``value``."""
        return [self._views[key] for key in sorted(self._indexes[index].get(value, ()))]

    def __len__(self) -> int:
        return len(self._views)

    def _unindex(self, view: V | None) -> None:
        if view is None:
            return
        for name, indexer in self._indexers.items():
            index = self._indexes[name]
            for value in indexer(view):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(view.key)
                    if not keys:
                        del index[value]
