"""What objects say about each other, read from the engine's stores by secondary index: which
VirtualMachines name a platform uuid, a VmGroup's platform uuid, a VirtualMachine's migrations."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from vmop.api.annotations import ANNOTATION_MIGRATION, ANNOTATION_UUID
from vmop.api.vmmigration import FINISHED
from vmop.controller.objects import ObjectView
from vmop.engine.store import Key, Store
from vmop.reconcile.identity import Claim, MigrationRecord
from vmop.reconcile.status import parse_rfc3339
from vmop.reconcile.vmgroup import GroupEntry
from vmop.reconcile.vmmigration import Target

BY_UUID = "uuid"  # VirtualMachines: the platform uuids each names
BY_PARENT = "parent"  # VmGroups: (namespace, parentRef name)
BY_VM = "vm"  # VmMigrations: (namespace, vmRef name)


# ------------------------------------------------------------ VirtualMachine


def named_uuids(vm: ObjectView) -> dict[str, bool]:
    """The platform uuids a VirtualMachine names, each with whether vmop recorded it (status or
    annotation) rather than a person asking to adopt it."""
    named = {uuid: True for uuid in (vm.status.get("uuid"), vm.annotations.get(ANNOTATION_UUID)) if uuid}
    adopted = (vm.spec.get("adopt") or {}).get("uuid")
    if adopted and adopted not in named:
        named[adopted] = False
    return named


def uuid_index(vm: ObjectView) -> Iterable[Hashable]:
    return named_uuids(vm)


def claims(vms: Store[ObjectView], uuid: str) -> list[Claim]:
    """The VirtualMachine objects naming ``uuid``: two must never drive one VM."""
    return [Claim(vm.namespace, vm.name, vm.uid, vm.created, named_uuids(vm)[uuid]) for vm in vms.lookup(BY_UUID, uuid)]


def target_of(vm: ObjectView) -> Target:
    """What a migration pass needs of its VirtualMachine."""
    return Target(
        name=vm.name,
        uuid=vm.status.get("uuid") or vm.annotations.get(ANNOTATION_UUID),
        cluster=vm.status.get("cluster"),
        tenant=vm.status.get("tenant"),
        platform_name=vm.status.get("name"),
        migration=vm.annotations.get(ANNOTATION_MIGRATION),
        uid=vm.uid,
    )


# ------------------------------------------------------------ VmGroup


def group_entry(group: ObjectView) -> GroupEntry:
    """A VmGroup's uuid, once it is Ready on the platform; its parent and scope."""
    uuid = group.annotations.get(ANNOTATION_UUID) or group.status.get("uuid")
    ready = any(c.get("type") == "Ready" for c in group.status.get("conditions") or [])
    parent = (group.spec.get("parentRef") or {}).get("name")
    return GroupEntry(
        uuid if (uuid and ready) else None, parent, group.spec.get("cluster", ""), group.spec.get("tenant", "")
    )


def parent_index(group: ObjectView) -> Iterable[Hashable]:
    parent = (group.spec.get("parentRef") or {}).get("name")
    return [(group.namespace, parent)] if parent else []


def group_entries(groups: Store[ObjectView]) -> dict[tuple[str, str], GroupEntry]:
    return {group.key: group_entry(group) for group in groups.views()}


def group_uuid(groups: Store[ObjectView], namespace: str, name: str) -> str | None:
    group = groups.get((namespace, name))
    return group_entry(group).uuid if group is not None else None


def child_groups(groups: Store[ObjectView], group: ObjectView) -> list[str]:
    return [child.name for child in groups.lookup(BY_PARENT, group.key)]


# ------------------------------------------------------------ VmMigration


def vm_key(migration: ObjectView) -> Key:
    """The key of the VirtualMachine a VmMigration is about."""
    return (migration.namespace, (migration.spec.get("vmRef") or {}).get("name", ""))


def vm_index(migration: ObjectView) -> Iterable[Hashable]:
    return [vm_key(migration)]


def migration_record(migration: ObjectView) -> MigrationRecord:
    cross = migration.spec.get("crossCluster")
    return MigrationRecord(
        name=migration.name,
        phase=migration.status.get("phase"),
        destination=(cross["cluster"], cross["tenant"]) if cross else None,
        finished_at=parse_rfc3339(migration.status.get("completionTime")),
    )


def migrations_of(migrations: Store[ObjectView], namespace: str, vm: str) -> tuple[MigrationRecord, ...]:
    return tuple(migration_record(m) for m in migrations.lookup(BY_VM, (namespace, vm)))


def rivals(migrations: Store[ObjectView], migration: ObjectView) -> frozenset[str]:
    """The other unfinished migrations of the same VM."""
    vm = (migration.spec.get("vmRef") or {}).get("name", "")
    return frozenset(
        m.name
        for m in migrations_of(migrations, migration.namespace, vm)
        if m.name != migration.name and m.phase not in FINISHED
    )
