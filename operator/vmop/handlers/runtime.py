"""Start-up and shutdown of an operator process: settings, the compute client, the shared
inventory and the controllers, kept in kopf's memo."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import kopf
from pydantic import SecretStr

from vmop import metrics
from vmop.api import GROUP
from vmop.api.annotations import ANNOTATION_CREATE_PENDING, ANNOTATION_UUID, FINALIZER
from vmop.compute import ComputeClient, ComputeSettings
from vmop.compute.batching import Batcher
from vmop.compute.inventory import Inventory
from vmop.config import OperatorConfig
from vmop.controller.kube import KubeAccess
from vmop.controller.objects import ObjectView
from vmop.controller.passes import PassHistory
from vmop.controller.virtualmachine import VirtualMachineController
from vmop.controller.vmgroup import VmGroupController
from vmop.controller.vmmigration import VmMigrationController
from vmop.handlers.written import Written
from vmop.reconcile.virtualmachine import Safety

# A platform that answers 5xx is retried for a few seconds (RetryPolicy) and then reported as
# unavailable: an answer, not silence. Short resync periods must not turn that into "not answering".
MIN_PATIENCE_SECONDS = 10.0
EVENT_COMPONENT = "vmop"
M_ARENA_MAX = -8  # mallopt(3)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024
NAMESPACE_TTL = 2.0
PASSES_PER_CALL = 4  # passes at work per compute request in flight: the rest wait, cheaply


@dataclass
class Runtime:
    config: OperatorConfig
    kube: KubeAccess
    client: ComputeClient
    inventory: Inventory
    history: PassHistory  # when each object's last pass ended: which list its next pass reads
    virtual_machines: VirtualMachineController
    vm_groups: VmGroupController
    migrations: VmMigrationController
    written: Written = field(default_factory=Written)
    # Passes at work at once (each holds its object's lock first). The compute client bounds the
    # platform's calls already; this bounds the memory of a burst: a thousand objects applied at
    # once wait here, small, instead of a thousand passes each holding bodies, lists and responses.
    passes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(64))
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _namespaces: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    _namespace_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, uid: str) -> asyncio.Lock:
        """One pass at a time per object: the resync timer and change handlers never overlap."""
        return self._locks.setdefault(uid, asyncio.Lock())

    async def namespace_policy(self, namespace: str, annotation: str) -> str | None:
        """A namespace's annotation, read at most every NAMESPACE_TTL seconds, one read at a time:
        deleting a thousand VMs of one namespace reads it a few times, not a thousand."""
        async with self._namespace_locks.setdefault(namespace, asyncio.Lock()):
            cached = self._namespaces.get(namespace)
            if cached is None or time.monotonic() - cached[0] > NAMESPACE_TTL:
                cached = (time.monotonic(), await self.kube.namespace_annotations(namespace))
                self._namespaces[namespace] = cached
        return cached[1].get(annotation)

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)
        self.history.forget(uid)
        self.written.forget(uid)


class CompactDiffBaseStorage(kopf.StatusDiffBaseStorage):
    """kopf's diff-base (status.kopf.last-handled-configuration, written with the handlers' status
    patches) holds only what vmop reacts to, small whatever the object's size: the spec as its
    digest and vmop's own ``vmop.io/`` annotations. kopf's default copies the spec and every label
    and annotation: an object with 16,000 labels (1.2 MB) made each status patch 2.47 MB, which
    etcd refuses, and the copy of the spec made most of `kubectl describe`. vmop's handlers read
    the object, never kopf's old/new/diff; a handler on a field inside spec would need it back."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        fields = cast(dict[str, Any], essence)  # kopf types the spec as a dict; here it is its digest
        if "spec" in fields:
            canonical = json.dumps(fields["spec"], sort_keys=True, separators=(",", ":"))
            fields["spec"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        metadata: dict[str, Any] = fields.get("metadata", {})
        metadata.pop("labels", None)
        annotations = metadata.get("annotations", {})
        for key in [key for key in annotations if not key.startswith(f"{GROUP}/")]:
            del annotations[key]
        if not annotations:
            metadata.pop("annotations", None)
        if not metadata:
            fields.pop("metadata", None)
        return essence


def configure_settings(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    settings.persistence.finalizer = FINALIZER
    # Bookkeeping in status, not annotations: GitOps tools see no metadata churn.
    settings.persistence.progress_storage = kopf.StatusProgressStorage()
    # vmop's own bookkeeping annotations (a VM's uuid, a VmGroup's create mark) are no change to
    # react to: left in the diff-base, each write of them costs kopf a second status patch
    # (measured in bench/: one per VM created).
    settings.persistence.diffbase_storage = CompactDiffBaseStorage(
        ignored_fields=[("metadata", "annotations", key) for key in (ANNOTATION_UUID, ANNOTATION_CREATE_PENDING)]
    )
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    settings.posting.level = logging.WARNING
    # Events are signed by vmop (`kubectl describe`'s "From"), with the pod's name as the instance.
    settings.posting.reporting_component = EVENT_COMPONENT
    settings.posting.reporting_instance = socket.gethostname()
    settings.posting.event_name_prefix = f"{EVENT_COMPONENT}-"
    settings.execution.max_workers = max(4, config.max_concurrency)
    # kopf releases a deleted object's finalizer only once its resync timer has exited; a timer
    # still waiting for its turn behind the deletions is looked at again this soon, not after
    # kopf's default minute (bench/: 41 of 1,000 objects deleted at once took a minute longer).
    settings.background.cancellation_polling = 2.0
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


async def _credentials(kube: KubeAccess, config: OperatorConfig, logger: logging.Logger | Any) -> dict[str, str]:
    if not config.credentials_secret:
        return {}
    namespace, _, name = config.credentials_secret.partition("/")
    try:
        return await kube.secret_data(namespace, name)
    except Exception as exc:  # the operator still runs: deletes of never-created VMs need no platform
        logger.error("cannot read credentials Secret %s: %s", config.credentials_secret, type(exc).__name__)
        return {}


def compute_settings(config: OperatorConfig, secret: dict[str, str], ca_file: str | None) -> ComputeSettings:
    return ComputeSettings(
        base_url=config.compute_url,
        token=SecretStr(secret["token"]) if secret.get("token") else None,
        username=secret.get("username"),
        password=SecretStr(secret["password"]) if secret.get("password") else None,
        ca_bundle=Path(ca_file) if ca_file else None,
        verify_tls=not config.insecure_skip_verify,
        max_concurrency=config.max_concurrency,
        action_timeout=config.compute_timeout,
        profile=config.profile,
    )


def tune_malloc() -> None:
    """glibc gives each thread that allocates an arena of its own and keeps what is freed there:
    with the threads of the blocking Kubernetes client that was over 100 MiB of RSS at 1,000 VMs
    (bench/). Two arenas, as MALLOC_ARENA_MAX=2 would do. And a fixed mmap threshold: glibc raises
    it after each large block freed, after which large blocks (list pages, watch events) come from
    the heap and stay there once freed. Environment settings (MALLOC_*), when given, win; elsewhere
    a no-op."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        libc = ctypes.CDLL("libc.so.6")
        if "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(M_ARENA_MAX, 2)
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


async def start_runtime(config: OperatorConfig, logger: logging.Logger | Any) -> Runtime:
    tune_malloc()
    # The Kubernetes client blocks: the create marks it writes run in threads. asyncio's default
    # pool has cpu+4 of them, which queued those writes behind each other when a thousand VMs were
    # created at once on a 2-CPU node (bench/).
    workers = max(8, config.max_concurrency)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(workers, thread_name_prefix="vmop"))
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    kube = KubeAccess(str(config.kubeconfig) if config.kubeconfig else None, connections=workers)
    secret = await _credentials(kube, config, logger)
    with tempfile.TemporaryDirectory(prefix="vmop-ca-") as scratch:
        # The SSL context reads the CA when the client is built; the file is gone right after.
        ca_file = None
        if secret.get("ca.crt"):
            ca_file = str(Path(scratch) / "ca.crt")
            await asyncio.to_thread(Path(ca_file).write_text, secret["ca.crt"])
        client = ComputeClient(compute_settings(config, secret, ca_file), observer=metrics.observe_call)
    inventory = Inventory(client, max_age=config.resync_seconds / 2, page_size=config.page_size)

    written = Written(ttl=max(120.0, 4 * config.resync_seconds))

    async def persist(obj: ObjectView, status: dict[str, Any]) -> None:
        await kube.patch_status("virtualmachines", obj.namespace, obj.name, status)
        written.record(obj.uid, {}, status)

    safety = Safety(
        create_grace=config.create_grace,
        loss_confirmation=config.resync_seconds,
        duplicate_guard=config.duplicate_guard_seconds,
    )
    controller = VirtualMachineController(
        client,
        inventory,
        persist,
        default_deletion_policy=config.default_deletion_policy,
        batcher=Batcher(client),
        safety=safety,
        patience=max(2 * config.resync_seconds, MIN_PATIENCE_SECONDS),
    )

    async def persist_group(obj: ObjectView, annotations: dict[str, str | None]) -> None:
        await kube.annotate("vmgroups", obj.namespace, obj.name, annotations)

    groups = VmGroupController(client, inventory, persist_group)

    async def hand_over(namespace: str, name: str, uid: str, status: dict[str, Any]) -> None:
        await kube.patch_status("virtualmachines", namespace, name, status)
        written.record(uid, {}, status)

    migrations = VmMigrationController(client, kube.annotate, hand_over)
    passes = asyncio.Semaphore(PASSES_PER_CALL * config.max_concurrency)
    history = PassHistory(inventory.now, settle_seconds=config.resync_seconds / 2)
    return Runtime(
        config, kube, client, inventory, history, controller, groups, migrations, written=written, passes=passes
    )
