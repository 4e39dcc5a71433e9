"""plan_vm_pool: which VirtualMachines a VmPool makes, deletes and updates. No I/O.

Steps, in order:
1. scale down: the surplus goes, not-Ready VMs first, then the newest;
2. scale up: as many new VMs (from the current template) as are missing;
3. the VMs on an older template, by how the template's change reaches them (classify_change, with
   the VirtualMachine planner's own hot/cold rules of reconcile/changes.py):
   - ``hot``: a running VM takes it in place: every VM's spec is updated at once (RollingUpdate);
   - ``cold``: it needs a restart: the spec of at most maxUnavailable VMs at a time is updated
     with updatePolicy Restart (the VM's documented restart), the next batch only once they are
     Ready on it;
   - ``replace``: no VM can take it in place (a new disk: volumes are made only with a VM): the
     VM is deleted and a new one made, as many at a time as cold changes;
   OnDelete changes no existing VM. The budget is a Deployment's: the pool's Ready VMs never
   drop below replicas - maxUnavailable by the pool's doing; an outdated VM that is not Ready
   already costs none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import ComputeIdentifier
from vmop.compute.rules import devices_for_bus
from vmop.reconcile.changes import (
    Owned,
    boot_devices,
    bound_triple,
    desired_cpus,
    memory_bytes,
    plan_changes,
    platform_bus,
)
from vmop.reconcile.observed import Observed, ObservedDisk, ObservedNic, Shape

ChangeKind = Literal["none", "hot", "cold", "replace"]
Strategy = Literal["RollingUpdate", "OnDelete"]
HASH_LENGTH = 10


def template_hash(template: dict[str, Any]) -> str:
    """The template (metadata and spec, as stored) as a short digest: the label of VMs made from it."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def _shape_of(spec: VirtualMachineSpec) -> tuple[Observed, Owned]:
    """The platform VM a create from ``spec`` makes, running, as the VirtualMachine planner would
    observe it: made-up volume uuids and MACs for what the platform would assign."""
    disks: list[ObservedDisk] = []
    owned_disks: dict[str, str] = {}
    used: dict[str, int] = {}  # device family (first name) -> names given out
    for disk in spec.disks:
        bus = platform_bus(disk.bus, disk.cache_mode)
        family = devices_for_bus(bus)
        device = disk.device or family[min(used.get(family[0], 0), len(family) - 1)]
        used[family[0]] = used.get(family[0], 0) + 1
        volume = f"volume-{disk.name}"
        owned_disks[disk.name] = volume
        disks.append(ObservedDisk(device, bus, volume, memory_bytes(disk.size or "0"), disk.cache_mode or ""))
    nics: list[ObservedNic] = []
    owned_nics: dict[str, str] = {}
    for index, nic in enumerate(spec.interfaces):
        mac = f"02:00:00:00:00:{index:02x}"
        owned_nics[nic.name] = mac
        qos = nic.qos
        nics.append(
            ObservedNic(
                mac,
                nic.network,
                nic.port_group or "",
                nic.model,
                tuple(nic.vlan_ids or ()),
                bound_triple(qos.inbound if qos else None),
                bound_triple(qos.outbound if qos else None),
            )
        )
    owned = Owned(owned_disks, owned_nics)
    shape = Shape(
        cpu_sockets=spec.cpu.sockets,
        cpu_cores=spec.cpu.cores,
        cpu_current=desired_cpus(spec),
        memory=memory_bytes(spec.memory),
        disks=tuple(disks),
        nics=tuple(nics),
        cdrom=spec.cdrom.image if spec.cdrom else "",
        boot_order=(),
        ha_mode=spec.ha_mode,
        os_loader=spec.meta.os_loader if spec.meta and spec.meta.os_loader else "",
    )
    shape = Shape(**{**shape.__dict__, "boot_order": tuple(boot_devices(spec, shape, owned))})
    observed = Observed(
        uuid="pool-member",
        name="pool-member",
        cluster=spec.cluster,
        tenant=spec.tenant,
        state="running",
        action="noaction",
        agent="connected",
        host="",
        group=spec.group or "",
        os=spec.os,
        created_at=0,
        shape=shape,
    )
    return observed, owned


def classify_change(old: VirtualMachineSpec, new: VirtualMachineSpec) -> ChangeKind:
    """How a VM made from ``old`` takes ``new`` while it runs: the VirtualMachine planner's calls
    between the two, hot or cold, or a change it cannot make at all (replace). A difference no call
    makes (power state, policies) is hot: the VirtualMachine applies it itself."""
    if old == new:
        return "none"
    observed, owned = _shape_of(old)
    ident = ComputeIdentifier(cluster_uuid=old.cluster, tenant=old.tenant, compute_uuid=observed.uuid)
    try:
        changes, unsupported = plan_changes(new, observed, ident, owned, name=observed.name, group=new.group)
    except ValidationError:  # a request the VM planner could not make either: restart to be safe
        return "cold"
    if unsupported:
        return "replace"
    return "hot" if all(change.hot for change in changes) else "cold"


@dataclass(frozen=True)
class Member:
    """One VirtualMachine the pool owns, as its object shows it."""

    name: str
    template_hash: str  # its vmop.io/pool-template-hash label
    spec: VirtualMachineSpec | None  # None: unreadable (then replaced, never patched)
    ready: bool  # Ready=True for its current generation
    created: str  # creationTimestamp (RFC 3339 sorts as time)
    deleting: bool = False


@dataclass(frozen=True)
class PoolSpec:
    replicas: int
    template_hash: str
    template: VirtualMachineSpec
    strategy: Strategy
    max_unavailable: int  # as a count (api/vmpool.max_unavailable)


@dataclass(frozen=True)
class Update:
    name: str
    restart: bool  # updatePolicy Restart: the VM restarts to take the change now


@dataclass(frozen=True)
class PoolPlan:
    creates: int  # new VMs, for the replica count and in place of those replaced
    deletes: list[str] = field(default_factory=list)  # the surplus of a scale down
    replaces: list[str] = field(default_factory=list)  # deleted for a change no VM takes in place
    updates: list[Update] = field(default_factory=list)
    replicas: int = 0  # VMs of the pool not being deleted, once this plan is done
    ready: int = 0
    updated: int = 0
    waiting: list[str] = field(default_factory=list)  # outdated VMs left for a later batch (or OnDelete)
    scaling: bool = False  # VMs are made or deleted for the replica count (not for a rollout)

    @property
    def settled(self) -> bool:
        return not (self.creates or self.deletes or self.replaces or self.updates or self.waiting)


def _surplus(alive: list[Member], count: int) -> list[Member]:
    """Scale down picks the not-Ready first, then the newest."""
    newest_first = sorted(alive, key=lambda m: (m.created, m.name), reverse=True)
    return sorted(newest_first, key=lambda m: m.ready)[:count]


def plan_vm_pool(pool: PoolSpec, members: list[Member]) -> PoolPlan:
    alive = [m for m in members if not m.deleting]
    surplus = _surplus(alive, max(0, len(alive) - pool.replicas))
    deletes = [m.name for m in surplus]
    alive = [m for m in alive if m.name not in deletes]
    creates = max(0, pool.replicas - len(alive))
    scaling = bool(surplus or creates)
    # The Deployment's budget: Ready VMs may drop to replicas - maxUnavailable, no lower. VMs still
    # to be made count as not Ready.
    budget = pool.max_unavailable - (pool.replicas - sum(m.ready for m in alive))
    updates: list[Update] = []
    replaces: list[str] = []
    waiting: list[str] = []
    outdated = sorted((m for m in alive if m.template_hash != pool.template_hash), key=lambda m: (m.ready, m.name))
    for member in outdated:
        kind: ChangeKind = "replace" if member.spec is None else classify_change(member.spec, pool.template)
        if pool.strategy == "OnDelete":
            waiting.append(member.name)
            continue
        if kind in ("none", "hot"):
            updates.append(Update(member.name, restart=False))
            continue
        if member.ready:
            if budget <= 0:
                waiting.append(member.name)
                continue
            budget -= 1
        if kind == "cold":
            updates.append(Update(member.name, restart=True))
        else:
            replaces.append(member.name)
            creates += 1
    kept = [m for m in alive if m.name not in replaces]
    touched = {u.name for u in updates}  # a new spec: not Ready for it until the VM has seen it
    return PoolPlan(
        creates=creates,
        deletes=deletes,
        replaces=replaces,
        updates=updates,
        replicas=len(kept) + creates,
        ready=sum(m.ready and m.name not in touched for m in kept),
        updated=sum(m.template_hash == pool.template_hash for m in kept) + len(updates) + creates,
        waiting=waiting,
        scaling=scaling,
    )
