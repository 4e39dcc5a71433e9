"""kopf's watch of vmop's kinds handed to their engines (runtime/compose.py).

Each object's view goes to its kind's store from a kopf index handler: kopf runs those for every
object of its first listings, of all kinds, before any other handler. The first event handler
therefore runs once every store holds the whole listing, and only then do the engines' queues
start (client-go's WaitForCacheSync): a pass never takes an object missing from a store for one
that does not exist (a VirtualMachine a migration is about, another object claiming its VM).
"""

from __future__ import annotations

from typing import Any

import kopf

from vmop.api import GROUP, VERSION
from vmop.controller.objects import view_of
from vmop.runtime.compose import PROVIDERS, Runtime

PLURALS = ("virtualmachines", "vmgroups", "vmmigrations", "vmpools")


async def into_store(body: kopf.Body, resource: kopf.Resource, memo: kopf.Memo, **_: Any) -> None:
    # async: kopf runs a sync handler in a thread, and the store and queues are the event loop's.
    runtime: Runtime = memo.runtime
    runtime.engines()[resource.plural].observe(view_of(body))
    # None: kopf keeps no index entry (the engine's store is the index).


async def on_event(event: kopf.RawEvent, resource: kopf.Resource, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    if event["type"] == "DELETED":
        view = view_of(event["object"])
        runtime.engines()[resource.plural].gone(view.key, view.resource_version)
    runtime.start()  # the stores are synced (see above); once


def register(registry: kopf.OperatorRegistry, *, providers: bool) -> None:
    # ComputeProviders are cluster-scoped: kopf watches them cluster-wide, whatever --namespace says.
    for plural in (*PLURALS, PROVIDERS) if providers else PLURALS:
        kopf.index(GROUP, VERSION, plural, id="store", registry=registry)(into_store)
        kopf.on.event(GROUP, VERSION, plural, id="watch", registry=registry)(on_event)
