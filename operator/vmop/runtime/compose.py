"""The composition root of an operator process: the Kubernetes client, the platforms (the flags'
and, with --compute-providers, one per ComputeProvider, each with its compute client, inventory and
controllers: controller/platforms.py), and the engine of each kind, built from the configuration at
start-up and closed at shutdown. handlers/ reach them through kopf's memo."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmop import metrics
from vmop.api.annotations import (
    ANNOTATION_CONFIRM_RECREATE,
    ANNOTATION_CREATE_PENDING,
    ANNOTATION_FORCE_RELEASE,
    ANNOTATION_MIGRATION,
    ANNOTATION_PAUSED,
    ANNOTATION_RECONCILE_REQUEST,
    ANNOTATION_RESTART,
    FINALIZER,
)
from vmop.compute import ComputeClient
from vmop.compute.batching import Batcher
from vmop.compute.inventory import Inventory
from vmop.config import OperatorConfig
from vmop.controller.computeprovider import ComputeProviderPasses
from vmop.controller.kube import KubeAccess, KubeError, NamespacePolicies, SecretCache
from vmop.controller.objects import ObjectView
from vmop.controller.passes import Stores, VirtualMachinePasses, VmGroupPasses, VmMigrationPasses, VmPoolPasses
from vmop.controller.platforms import ClientShape, Platform, Platforms, compute_client
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
from vmop.reconcile.providers import OWN, provider_ref
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
PROVIDERS = "computeproviders"
# The kinds that live on a platform, by plural.
PROVIDER_USERS = {"virtualmachines": "VirtualMachine", "vmgroups": "VmGroup", "vmmigrations": "VmMigration"}
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
    platforms: Platforms
    virtual_machines: KindEngine[ObjectView]
    vm_groups: KindEngine[ObjectView]
    migrations: KindEngine[ObjectView]
    pools: KindEngine[ObjectView]
    providers: KindEngine[ObjectView] | None = None  # None: --no-compute-providers
    lease: ShardLease | None = None
    peering: PeeringFollower | None = None
    started: bool = False
    _leasing: asyncio.Task[None] | None = None
    # What must let this process act, each True or False: its shard's Lease, kopf's peering.
    gates: dict[str, bool] = field(default_factory=dict)

    def engines(self) -> dict[str, KindEngine[ObjectView]]:
        """By plural."""
        engines = {
            "virtualmachines": self.virtual_machines,
            "vmgroups": self.vm_groups,
            "vmmigrations": self.migrations,
            "vmpools": self.pools,
        }
        return engines | ({PROVIDERS: self.providers} if self.providers is not None else {})

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
        await self.platforms.close()
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


def own_shape(config: OperatorConfig) -> ClientShape:
    """The platform of the flags (--compute-url)."""
    verify = not config.insecure_skip_verify
    return ClientShape(config.compute_url, verify, config.max_concurrency, config.compute_timeout, config.profile)


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
    clock = time.monotonic
    secrets = SecretCache(kube, clock)
    namespaces = NamespacePolicies(kube, clock)
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

    def platform(name: str, client: ComputeClient, page_size: int) -> Platform:
        """One platform's client, inventory, batcher and controllers (the flags' or a provider's)."""
        inventory = Inventory(client, max_age=config.resync_seconds / 2, page_size=page_size, clock=clock)
        vms = VirtualMachineController(
            client,
            inventory,
            persist,
            mark,
            default_deletion_policy=config.default_deletion_policy,
            batcher=Batcher(client),
            safety=safety,
            patience=max(2 * config.resync_seconds, MIN_PATIENCE_SECONDS),
            read_secret=secrets.data,
        )
        groups = VmGroupController(client, inventory, persist_group)
        return Platform(name, client, inventory, vms, groups, VmMigrationController(client, annotate, hand_over))

    own_client = await compute_client(own_shape(config), await _credentials(kube, config, logger))
    own = platform(OWN, own_client, config.page_size)
    providers: Store[ObjectView] | None = Store() if config.compute_providers else None
    platforms = Platforms(
        own,
        platform,
        providers,
        secrets=secrets,
        namespaces=namespaces,
        secrets_namespace=config.provider_secrets_namespace or own_namespace(),
        timeout=config.compute_timeout,
    )
    vm_history: PassHistory[Key] = PassHistory(clock, settle_seconds=config.resync_seconds / 2)
    in_flight = PASSES_PER_CALL * config.max_concurrency
    vm_passes = VirtualMachinePasses(own.vms, stores, vm_writes, vm_history, namespaces, platforms)
    group_passes = VmGroupPasses(own.groups, stores, group_writes, platforms)
    migration_passes = VmMigrationPasses(own.migrations, stores, migration_writes, platforms)
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
        platforms,
        engines["virtualmachines"],
        engines["vmgroups"],
        engines["vmmigrations"],
        engines["vmpools"],
    )
    if providers is not None:
        provider_writes = ObjectWrites(kube, "ComputeProvider", PROVIDERS, observe(PROVIDERS))
        engines[PROVIDERS] = runtime.providers = provider_engine(platforms, providers, engines, provider_writes, config)
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


def provider_engine(
    platforms: Platforms,
    providers: Store[ObjectView],
    engines: dict[str, KindEngine[ObjectView]],
    writes: ObjectWrites,
    config: OperatorConfig,
) -> KindEngine[ObjectView]:
    """The ComputeProviders' engine. Its passes run in the process owning the provider's shard; what
    every process must hear of a provider is its ``notify``: the objects that name it (or, for a
    default one, name none) look again when it comes, changes or goes, and its platform goes with it."""
    shard = Shard(config.shards, config.shard_index)
    seen: dict[str, tuple[int, bool, bool]] = {}

    def users(name: str) -> list[str]:
        return [
            f"{kind} {view.namespace}/{view.name}"
            for plural, kind in PROVIDER_USERS.items()
            for view in engines[plural].store.views()
            if platforms.home(view) == name
        ]

    def changed(provider: ObjectView) -> None:
        if provider.deleting and FINALIZER not in provider.finalizers:  # let go: deleted in a moment
            platforms.forget(provider.name)
            seen.pop(provider.name, None)
        now = (provider.generation, provider.deleting, FINALIZER in provider.finalizers)
        if seen.get(provider.name) == now:  # only its status moved (mostly its own pass's write)
            return
        seen[provider.name] = now
        for plural in PROVIDER_USERS:
            for view in engines[plural].store.views():
                if provider_ref(view.spec) in (provider.name, None):
                    engines[plural].wake(view.key)

    passes = ComputeProviderPasses(platforms, providers, users, writes)
    return KindEngine(
        PROVIDERS,
        providers,
        passes,
        needs_pass(OTHER_TRIGGERS),
        notify=changed,
        owns=lambda provider: shard.owns(provider.key),
        max_in_flight=config.max_concurrency,
        resync_seconds=config.resync_seconds,
    )


def own_namespace() -> str:
    """The pod's namespace (its service account's), else default (outside a cluster)."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
