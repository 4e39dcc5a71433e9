"""A shard's Lease (coordination.k8s.io/v1), as client-go's leader election holds one: a process
handles its shard's objects (engine/shard.py) only while it holds Lease ``<name>-<index>``. A
second process for the same shard waits with its stores warm and takes over once the Lease is
released (a clean stop) or expires (a crash): a hot standby, and never two processes on one shard.

Expiry is judged by this process's own clock, as client-go does: a Lease whose record has not
changed for its duration since this process first saw that record is expired. No clocks of two
machines are ever compared.

A change of ``--shards`` rolls out over processes started with the old count and the new. Each
Lease records its holder's count (``vmop.io/shards``), and a process acts only while no other live
Lease of its name says another count: while the old and new processes overlap, they all wait, and
the new ones begin once the old ones' Leases are released or expired. Some keys of one count's
shard belong to another shard under the other count, so nothing less excludes a key handled twice.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from vmop.api.annotations import ANNOTATION_SHARDS, LABEL_LEASE
from vmop.controller.kube import KubeError, is_conflict
from vmop.engine.clock import Clock
from vmop.engine.shard import Shard

log = logging.getLogger(__name__)

RENEW_FRACTION = 1 / 5  # tries and renewals this often, in Lease durations (client-go: 2 s of 15 s)
DEADLINE_FRACTION = 2 / 3  # unrenewed this long, the holder stops acting (client-go: 10 s of 15 s)


class LeaseAccess(Protocol):
    async def leases(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    async def lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def replace_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...


def identity() -> str:
    """This process, as Leases name their holder: the host (the pod's name) and a random part."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Seen:
    resource_version: str
    since: float  # when this process first saw that record


class ShardLease:
    def __init__(
        self,
        kube: LeaseAccess,
        namespace: str,
        name: str,
        shard: Shard,
        clock: Clock,
        *,
        holder: str,
        duration: float,
        on_change: Callable[[bool], None],
    ) -> None:
        self._kube = kube
        self.namespace = namespace
        self._group = name
        self.name = f"{name}-{shard.index}"
        self._shard = shard
        self._clock = clock
        self._holder = holder
        self._duration = duration
        self._on_change = on_change
        self._seen: dict[str, _Seen] = {}
        self._mine: dict[str, Any] | None = None  # this process's Lease as last stored: renewed without a read
        self._renewed: float | None = None  # when this process last held its Lease for certain
        self._leading = False
        self._said = ""  # the last reason for waiting logged: said once, not every try

    @property
    def leading(self) -> bool:
        return self._leading

    async def run(self) -> None:
        """Try, renew, and follow the other Leases until cancelled."""
        while True:
            await self.step()
            await self._clock.sleep(self._duration * RENEW_FRACTION)

    async def step(self) -> None:
        try:
            if await self._hold():
                self._renewed = self._clock.now()
            blocker = await self._other_count() if self._holding() else f"Lease {self.name} is held by another process"
        except (KubeError, OSError) as error:  # unanswered: act on until the deadline passes
            blocker = "" if self._holding() else f"cannot reach the Lease: {error}"
            if self._holding():
                log.warning("cannot renew Lease %s: %s", self.name, error)
        self._set(not blocker, blocker)

    async def release(self) -> None:
        """At a clean stop: the Lease is free at once (the standby need not wait for its expiry)."""
        if self._renewed is None:
            return
        self._set(False, "stopping")
        with contextlib.suppress(KubeError, OSError):
            found = await self._kube.lease(self.namespace, self.name)
            if found is not None and found.get("spec", {}).get("holderIdentity") == self._holder:
                found["spec"]["holderIdentity"] = ""
                await self._kube.replace_lease(self.namespace, found)
        self._renewed = None

    def _holding(self) -> bool:
        return self._renewed is not None and self._clock.now() - self._renewed < self._duration * DEADLINE_FRACTION

    async def _hold(self) -> bool:
        """Create, renew or take over this shard's Lease; whether this process holds it now."""
        found = await self._kube.lease(self.namespace, self.name)
        if found is None:
            return await self._write(self._kube.create_lease, self._record(None))
        spec = found.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if holder != self._holder and holder and not self._expired(found):
            return False
        return await self._write(self._kube.replace_lease, self._record(found))

    async def _write(self, write: Callable[[str, dict[str, Any]], Any], body: dict[str, Any]) -> bool:
        try:
            stored = await write(self.namespace, body)
        except KubeError as error:
            if is_conflict(error):  # another process wrote it first
                return False
            raise
        self._observe(stored)
        return True

    def _record(self, found: dict[str, Any] | None) -> dict[str, Any]:
        now = micro_time()
        spec = dict((found or {}).get("spec") or {})
        if spec.get("holderIdentity") != self._holder:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if found else 0)
        seconds = max(1, round(self._duration))
        spec |= {"holderIdentity": self._holder, "leaseDurationSeconds": seconds, "renewTime": now}
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {LABEL_LEASE: self._group},
            "annotations": {ANNOTATION_SHARDS: str(self._shard.count)},
        }
        if found is not None:
            metadata["resourceVersion"] = found["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    async def _other_count(self) -> str:
        """Why not to act although this process holds its Lease: another live one with another count."""
        for found in await self._kube.leases(self.namespace, f"{LABEL_LEASE}={self._group}"):
            name = found["metadata"]["name"]
            count = (found["metadata"].get("annotations") or {}).get(ANNOTATION_SHARDS)
            if name == self.name or not (found.get("spec") or {}).get("holderIdentity"):
                continue
            if not self._expired(found) and count != str(self._shard.count):
                return f"Lease {name} is held by a process with --shards {count}, this one has {self._shard.count}"
        return ""

    def _observe(self, found: dict[str, Any]) -> _Seen:
        name = found["metadata"]["name"]
        version = found["metadata"].get("resourceVersion", "")
        seen = self._seen.get(name)
        if seen is None or seen.resource_version != version:
            seen = self._seen[name] = _Seen(version, self._clock.now())
        return seen

    def _expired(self, found: dict[str, Any]) -> bool:
        duration = float((found.get("spec") or {}).get("leaseDurationSeconds") or self._duration)
        return self._clock.now() - self._observe(found).since >= duration

    def _set(self, leading: bool, why: str) -> None:
        if leading != self._leading:
            self._leading = leading
            if leading:
                log.info("holds Lease %s: handles shard %d of %d", self.name, self._shard.index, self._shard.count)
                self._said = ""
            else:
                log.warning("stops handling shard %d of %d: %s", self._shard.index, self._shard.count, why)
                self._said = why
            self._on_change(leading)
        elif not leading and why != self._said:
            log.info("waits to handle shard %d of %d: %s", self._shard.index, self._shard.count, why)
            self._said = why
