"""How kopf is set up for vmop: it only watches (handlers/ hand each event to the engine), so it
writes nothing to vmop's objects and posts no Events."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from vmop.config import OperatorConfig
from vmop.controller.kube import KubeAccess

# kopf removes the finalizer it is configured with from any object none of its handlers needs it
# for, and vmop registers none that does: kopf's is a name no object carries, so vmop's own
# (api/annotations.py FINALIZER, managed by the engine's passes) is never touched by kopf.
KOPF_FINALIZER = "kopf.vmop.io/unused"
IDLE_WORKER_SECONDS = 0.5


class NoDiffBase(kopf.DiffBaseStorage):
    """No essence of an object kept or built: kopf diffs one only for change handlers, and vmop
    registers none. kopf's own storages build it from a deep copy of each event's whole body
    (managed fields too): 3% of the operator's CPU while 1,000 VMs were created (bench/, py-spy)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure_settings(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    settings.persistence.finalizer = KOPF_FINALIZER
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    settings.posting.enabled = False  # vmop posts its own (controller/writes.py), rate-limited
    # kopf's worker per object keeps the last event's whole body while it waits this long for the
    # next: 1,000 objects deleted at once held 1,000 bodies for kopf's 5 s.
    settings.queueing.idle_timeout = IDLE_WORKER_SECONDS
    settings.peering.priority = config.peering_priority
    settings.peering.lifetime = config.peering_lifetime


async def limit_observation(
    kube: KubeAccess, config: OperatorConfig, settings: kopf.OperatorSettings, logger: logging.Logger | Any
) -> None:
    """kopf lists and watches namespaces to follow them at runtime. Without that right (the chart's
    namespaced mode grants none cluster-wide) it retries the listing for about a minute at every start
    before falling back to the given names, and reconciles nothing meanwhile. When vmop watches exact
    namespace names and may not list namespaces, skip kopf's observation from the start: the names are
    watched as given, and CRDs are scanned once at start."""
    if not config.namespaces or any(c in name for name in config.namespaces for c in "*?[]!"):
        return  # all namespaces, or patterns: kopf needs (and the ClusterRole grants) the listing
    try:
        allowed = await kube.may("list", "namespaces") and await kube.may("watch", "namespaces")
    except Exception as exc:  # cannot tell: leave it to kopf
        logger.warning("cannot check the right to list namespaces: %s", type(exc).__name__)
        return
    if not allowed:
        settings.scanning.disabled = True
        logger.info(
            "may not list namespaces cluster-wide: watching exactly %s; CRDs are scanned at start only",
            ", ".join(config.namespaces),
        )
