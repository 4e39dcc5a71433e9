"""One kind's engine: its store of views, its work queue, and the rule of which changes need a pass.

Everything that learns of an object hands the engine its view (``observe``): kopf's watch events
through handlers/, and the answers to this process's own writes. The store keeps the newer one
(engine/store.py); the key is queued when the object is new to this process or changed in a way
a pass reacts to (``needs_pass``): not when only its status moved, which is mostly vmop's own
write coming back. ``notify`` hears of every view taken and every deletion, for the passes of
other kinds that depend on this one (a VmPool on its VirtualMachines). Each period every key is
queued once more (the resync), spread over it. With shards (engine/shard.py) the store holds every
object, and only those ``owns`` accepts are ever queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from vmop.engine.freshness import PassHistory
from vmop.engine.queue import Reconcile, Resync, WorkQueue
from vmop.engine.store import Key, Store, Viewed

V = TypeVar("V", bound=Viewed)
NeedsPass = Callable[[V, V], bool]  # (the view before, the view now) -> queue the key


class KindEngine(Generic[V]):
    def __init__(
        self,
        name: str,
        store: Store[V],
        reconcile: Reconcile[Key],
        needs_pass: NeedsPass[V],
        *,
        history: PassHistory[Key] | None = None,
        notify: Callable[[V], None] | None = None,
        owns: Callable[[V], bool] = lambda _: True,
        max_in_flight: int,
        resync_seconds: float,
    ) -> None:
        self.name = name
        self.store = store
        self.history = history
        self._needs_pass = needs_pass
        self._notify = notify
        self._owns = owns
        self.queue: WorkQueue[Key] = WorkQueue(
            reconcile, max_in_flight=max_in_flight, resync=Resync(self.owned_keys, resync_seconds), name=name
        )

    def owned_keys(self) -> list[Key]:
        return [view.key for view in self.store.views() if self._owns(view)]

    def observe(self, view: V) -> None:
        if view.deleting and not view.finalizers:
            # Nothing holds it: Kubernetes has deleted it. This is the answer to the write that
            # removed its last finalizer, and it carries the resourceVersion from before that write
            # (kube-apiserver 1.37: the DELETED event that follows has a newer one), so the store
            # would not take it as newer, and a pass queued meanwhile would release it again.
            self.gone(view.key, view.resource_version)
            return
        old = self.store.put(view)
        if old is view:  # older than what the store holds
            return
        if self._notify is not None:
            self._notify(view)
        if not self._owns(view):
            return
        if old is None:
            if self.history is not None:
                self.history.arrived(view.key)
            self.queue.add(view.key)
        elif self._needs_pass(old, view):
            self.queue.add(view.key)

    def wake(self, key: Key) -> None:
        """Queue ``key`` (another kind's change concerns it) if this process handles it."""
        view = self.store.get(key)
        if view is not None and self._owns(view):
            self.queue.add(key)

    def gone(self, key: Key, resource_version: str) -> None:
        """The object is deleted (the watch says so)."""
        last = self.store.get(key)
        if last is not None and self._notify is not None:
            self._notify(last)
        self.store.remove(key, resource_version)
        if self.history is not None:
            self.history.forget(key)
        self.queue.forget(key)

    def start(self) -> None:
        self.queue.start()

    def pause(self) -> None:
        self.queue.pause()

    def resume(self) -> None:
        """Run again, and look at every object: another process may have acted meanwhile."""
        self.queue.resume()
        for key in self.owned_keys():
            self.queue.add(key)

    async def shutdown(self, grace: float) -> None:
        await self.queue.shutdown(grace)
