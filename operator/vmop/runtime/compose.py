"""The composition root of an operator process: the Kubernetes and compute clients, the shared
inventory, the controllers and the engine of each kind, built from the configuration once at
start-up and closed at shutdown. handlers/ reach them through kopf's memo."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from vmop import metrics
from vmop.api.annotations import (
    ANNOTATION_CONFIRM_RECREATE,
    ANNOTATION_CREATE_PENDING,
    ANNOTATION_FORCE_RELEASE,
    ANNOTATION_MIGRATION,
    ANNOTATION_PAUSED,
    ANNOTATION_RECONCILE_REQUEST,
    ANNOTATION_RESTART,
)
from vmop.compute import ComputeClient, ComputeSettings
from vmop.compute.batching import Batcher
from vmop.compute.inventory import Inventory
from vmop.config import OperatorConfig
from vmop.controller.kube import KubeAccess, KubeError, NamespacePolicies, SecretCache
from vmop.controller.objects import ObjectView
from vmop.controller.passes import Stores, VirtualMachinePasses, VmGroupPasses, VmMigrationPasses, VmPoolPasses
from vmop.controller.relations import vm_key
from vmop.controller.virtualmachine import VirtualMachineController
from vmop.controller.vmgroup import VmGroupController
from vmop.controller.vmmigration import VmMigrationController
from vmop.controller.vmpool import KubePools, VmPoolController
from vmop.controller.writes import ObjectWrites
from vmop.engine import WriteLimiter
from vmop.engine.clock import MonotonicClock
from vmop.engine.freshness import PassHistory
from vmop.engine.kind import KindEngine, NeedsPass
from vmop.engine.queue import Reconcile
from vmop.engine.shard import Shard
from vmop.engine.store import Key, Store
from vmop.reconcile.virtualmachine import Safety
from vmop.runtime.lease import ShardLease, identity
from vmop.runtime.peering import PeeringFollower

# A platform that answers 5xx is retried for a few seconds (RetryPolicy) and then reported as
# unavailable: an answer, not silence. Short resync periods must not turn that into "not answering".
MIN_PATIENCE_SECONDS = 10.0
M_ARENA_MAX = -8  # mallopt(3)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024
PASSES_PER_CALL = 4  # passes at work per compute request in flight: the rest wait in the queue, cheaply
SHUTDOWN_GRACE_SECONDS = 10.0  # passes under way at shutdown end within this, or are cancelled
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

# What makes a pass due at once, besides a new object: a new generation, a deletion, and the
# annotations a person (or the VmMigration controller) sets. Not status: mostly vmop's own write.
VM_TRIGGERS = frozenset(
    {
        ANNOTATION_RECONCILE_REQUEST,
        ANNOTATION_RESTART,
        ANNOTATION_PAUSED,
        ANNOTATION_MIGRATION,
        ANNOTATION_CONFIRM_RECREATE,
        ANNOTATION_FORCE_RELEASE,
    }
)
OTHER_TRIGGERS = frozenset({ANNOTATION_FORCE_RELEASE})
POOL_TRIGGERS = frozenset({ANNOTATION_PAUSED})


def needs_pass(annotations: frozenset[str]) -> NeedsPass[ObjectView]:
    """Which changes of an object queue its pass: a new generation, a deletion, one of ``annotations``."""

    def changed(old: ObjectView, new: ObjectView) -> bool:
        return (
            new.generation != old.generation
            or new.deleting != old.deleting
            or any(old.annotations.get(a) != new.annotations.get(a) for a in annotations)
        )

    return changed


@dataclass
class Runtime:
    config: OperatorConfig
    kube: KubeAccess
    client: ComputeClient
    inventory: Inventory
    virtual_machines: KindEngine[ObjectView]
    vm_groups: KindEngine[ObjectView]
    migrations: KindEngine[ObjectView]
    pools: KindEngine[ObjectView]
    lease: ShardLease | None = None
    peering: PeeringFollower | None = None
    started: bool = False
    _leasing: asyncio.Task[None] | None = None
    # What must let this process act, each True or False: its shard's Lease, kopf's peering.
    gates: dict[str, bool] = field(default_factory=dict)

    def engines(self) -> dict[str, KindEngine[ObjectView]]:
        """By plural."""
        return {
            "virtualmachines": self.virtual_machines,
            "vmgroups": self.vm_groups,
            "vmmigrations": self.migrations,
            "vmpools": self.pools,
        }

    @property
    def acting(self) -> bool:
        return all(self.gates.values())

    def start(self) -> None:
        """Start the engines' queues (once): when every store holds the first listing. They begin
        paused while a gate is closed (no Lease yet: runtime/lease.py)."""
        if not self.started:
            self.started = True
            for engine in self.engines().values():
                if not self.acting:
                    engine.pause()
                engine.start()
            if self.lease is not None:
                self._leasing = asyncio.create_task(self.lease.run(), name=f"lease-{self.lease.name}")

    def gate(self, name: str, open_: bool) -> None:
        """Gate ``name`` opened or closed: run or pause every engine if that changes whether this acts."""
        before = self.acting
        self.gates[name] = open_
        if self.started and self.acting != before:
            for engine in self.engines().values():
                if self.acting:
                    engine.resume()
                else:
                    engine.pause()

    async def close(self) -> None:
        if self._leasing is not None:
            self._leasing.cancel()
            await asyncio.gather(self._leasing, return_exceptions=True)
        await asyncio.gather(*(engine.shutdown(SHUTDOWN_GRACE_SECONDS) for engine in self.engines().values()))
        if self.lease is not None:
            await self.lease.release()
        if self.peering is not None:
            self.peering.uninstall()
        await self.client.aclose()
        await self.kube.close()


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
    """glibc gives each thread that allocates an arena of its own and keeps what is freed there
    (bench/: over 100 MiB of RSS at 1,000 VMs when Kubernetes writes ran in threads). Two arenas,
    as MALLOC_ARENA_MAX=2 would do. And a fixed mmap threshold: glibc raises it after each large
    block freed, after which large blocks (list pages, watch events) come from the heap and stay
    there once freed. Environment settings (MALLOC_*), when given, win; elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        libc = ctypes.CDLL("libc.so.6")
        if "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(M_ARENA_MAX, 2)
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


async def _compute_client(kube: KubeAccess, config: OperatorConfig, logger: logging.Logger | Any) -> ComputeClient:
    secret = await _credentials(kube, config, logger)
    with tempfile.TemporaryDirectory(prefix="vmop-ca-") as scratch:
        # The SSL context reads the CA when the client is built; the file is gone right after.
        ca_file = None
        if secret.get("ca.crt"):
            ca_file = str(Path(scratch) / "ca.crt")
            await asyncio.to_thread(Path(ca_file).write_text, secret["ca.crt"])
        return ComputeClient(compute_settings(config, secret, ca_file), observer=metrics.observe_call)


def _minimal(namespace: str, name: str) -> ObjectView:
    """An object known by name only: enough for a write that needs no resourceVersion."""
    return ObjectView(namespace, name, "", 0, {}, {}, {})


async def start_runtime(config: OperatorConfig, logger: logging.Logger | Any) -> Runtime:
    tune_malloc()
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    limiter = WriteLimiter(config.kube_qps, config.kube_burst)
    kubeconfig = str(config.kubeconfig) if config.kubeconfig else None
    kube = await KubeAccess.connect(kubeconfig, limiter, connections=max(8, config.max_concurrency))
    try:
        logger.info("apiserver: %s", await kube.server())
    except KubeError as error:  # kopf's own requests will say more
        logger.warning("apiserver: no answer to /version: %s", error)
    client = await _compute_client(kube, config, logger)
    inventory = Inventory(client, max_age=config.resync_seconds / 2, page_size=config.page_size)
    stores = Stores()
    engines: dict[str, KindEngine[ObjectView]] = {}

    def observe(plural: str) -> Any:
        return lambda view: engines[plural].observe(view)

    vm_writes = ObjectWrites(kube, "VirtualMachine", "virtualmachines", observe("virtualmachines"))
    group_writes = ObjectWrites(kube, "VmGroup", "vmgroups", observe("vmgroups"))
    migration_writes = ObjectWrites(kube, "VmMigration", "vmmigrations", observe("vmmigrations"))
    pool_writes = ObjectWrites(kube, "VmPool", "vmpools", observe("vmpools"))
    writes = {w.plural: w for w in (vm_writes, group_writes, migration_writes)}

    async def persist(obj: ObjectView, status: dict[str, Any]) -> None:
        await vm_writes.status(obj, status)

    async def mark(obj: ObjectView, since: float) -> None:
        current = stores.vms.get(obj.key) or obj
        await vm_writes.finalize(current, {ANNOTATION_CREATE_PENDING: f"{since:.3f}"})

    async def persist_group(obj: ObjectView, annotations: dict[str, str | None]) -> None:
        await group_writes.metadata(obj, annotations=annotations)

    async def annotate(plural: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        await writes[plural].metadata(_minimal(namespace, name), annotations=annotations)

    async def hand_over(namespace: str, name: str, uid: str, status: dict[str, Any]) -> None:
        await vm_writes.status(_minimal(namespace, name), status)

    safety = Safety(
        create_grace=config.create_grace,
        loss_confirmation=config.resync_seconds,
        duplicate_guard=config.duplicate_guard_seconds,
    )
    vm_controller = VirtualMachineController(
        client,
        inventory,
        persist,
        mark,
        default_deletion_policy=config.default_deletion_policy,
        batcher=Batcher(client),
        safety=safety,
        patience=max(2 * config.resync_seconds, MIN_PATIENCE_SECONDS),
        read_secret=SecretCache(kube, inventory.now).data,
    )
    vm_history: PassHistory[Key] = PassHistory(inventory.now, settle_seconds=config.resync_seconds / 2)
    in_flight = PASSES_PER_CALL * config.max_concurrency
    vm_passes = VirtualMachinePasses(
        vm_controller, stores, vm_writes, vm_history, NamespacePolicies(kube, inventory.now)
    )
    group_passes = VmGroupPasses(VmGroupController(client, inventory, persist_group), stores, group_writes)
    migration_passes = VmMigrationPasses(VmMigrationController(client, annotate, hand_over), stores, migration_writes)
    pool_passes = VmPoolPasses(VmPoolController(KubePools(kube)), stores, pool_writes)

    def wake_pool(vm: ObjectView) -> None:
        """A pool's VirtualMachine was made, changed (Ready), or deleted: its pool looks again."""
        if vm.controller is not None and vm.controller[0] == "VmPool":
            engines["vmpools"].wake((vm.namespace, vm.controller[1]))

    shard = Shard(config.shards, config.shard_index)

    def owns(view: ObjectView) -> bool:
        return shard.owns(view.key)

    engines["virtualmachines"] = KindEngine(
        "virtualmachines",
        stores.vms,
        vm_passes,
        needs_pass(VM_TRIGGERS),
        history=vm_history,
        notify=wake_pool,
        owns=owns,
        max_in_flight=in_flight,
        resync_seconds=config.resync_seconds,
    )
    others: list[tuple[str, Store[ObjectView], Reconcile[Key], frozenset[str], Callable[[ObjectView], bool]]] = [
        ("vmgroups", stores.groups, group_passes, OTHER_TRIGGERS, owns),
        # A migration is handled by its VirtualMachine's shard: they annotate the VM, it holds still.
        ("vmmigrations", stores.migrations, migration_passes, OTHER_TRIGGERS, lambda m: shard.owns(vm_key(m))),
        ("vmpools", stores.pools, pool_passes, POOL_TRIGGERS, owns),
    ]
    for plural, store, passes, triggers, owned in others:
        engines[plural] = KindEngine(
            plural,
            store,
            passes,
            needs_pass(triggers),
            owns=owned,
            max_in_flight=config.max_concurrency,
            resync_seconds=config.resync_seconds,
        )
    runtime = Runtime(
        config,
        kube,
        client,
        inventory,
        engines["virtualmachines"],
        engines["vmgroups"],
        engines["vmmigrations"],
        engines["vmpools"],
    )
    if config.peering is not None:  # kopf starts paused, and says when it resumes
        runtime.gates["peering"] = False
        runtime.peering = PeeringFollower(lambda acting: runtime.gate("peering", acting))
        runtime.peering.install()
    if config.lease_name is not None:
        runtime.gates["lease"] = False
        runtime.lease = ShardLease(
            kube,
            config.lease_namespace or own_namespace(),
            config.lease_name,
            shard,
            MonotonicClock(),
            holder=identity(),
            duration=config.lease_duration,
            on_change=lambda held: runtime.gate("lease", held),
        )
    return runtime


def own_namespace() -> str:
    """The pod's namespace (its service account's), else default (outside a cluster)."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
