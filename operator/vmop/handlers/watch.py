"""kopf's watch events handed to each kind's engine: the view of the object, or its deletion."""

from __future__ import annotations

from typing import Any

import kopf

from vmop.api import GROUP, VERSION
from vmop.controller.objects import view_of
from vmop.runtime.compose import Runtime

PLURALS = ("virtualmachines", "vmgroups", "vmmigrations")


async def on_event(event: kopf.RawEvent, resource: kopf.Resource, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    engine = runtime.engines()[resource.plural]
    view = view_of(event["object"])
    if event["type"] == "DELETED":
        engine.gone(view.key, view.resource_version)
    else:
        engine.observe(view)


def register(registry: kopf.OperatorRegistry) -> None:
    for plural in PLURALS:
        kopf.on.event(GROUP, VERSION, plural, id="watch", registry=registry)(on_event)
