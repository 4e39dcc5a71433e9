"""What other objects say about which platform VM a VirtualMachine is, and where it may be: pure
rules over what kopf's indexes hold (claims of uuids, the object's VmMigrations)."""

from __future__ import annotations

from dataclasses import dataclass

from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.api.vmmigration import FINISHED

Scope = tuple[str, str]  # (cluster uuid, tenant)


@dataclass(frozen=True)
class Claim:
    """A VirtualMachine object naming a platform uuid: recorded (status/annotation: vmop made or
    took it) or only asked for (spec.adopt.uuid)."""

    namespace: str
    name: str
    uid: str
    created: str  # creationTimestamp (RFC 3339 sorts as text)
    recorded: bool


def rightful_owner(claims: list[Claim]) -> Claim:
    """Of the objects naming one VM, the one that manages it: one that has it recorded before one
    that only asks to adopt it, then the oldest. Every other one is refused, so two objects never
    drive one VM (nor delete it from under each other)."""
    return min(claims, key=lambda c: (not c.recorded, c.created or "~", c.namespace, c.name, c.uid))


@dataclass(frozen=True)
class MigrationRecord:
    """One VmMigration of the VirtualMachine, as kopf's index has it."""

    name: str
    phase: str | None
    destination: Scope | None  # cross-cluster: where it takes (or took) the VM
    finished_at: float | None = None  # when it ended (completionTime)


def migration_doubt(migrations: tuple[MigrationRecord, ...], *, now: float, settle: float) -> str | None:
    """Why a VM missing from its cluster may not be lost: a migration of it is unfinished, or
    ended so recently that where it put the VM may not be recorded yet."""
    for migration in migrations:
        if migration.phase not in FINISHED:
            return f"VmMigration {migration.name} is {migration.phase or 'new'}"
        if migration.finished_at is not None and now - migration.finished_at < settle:
            return f"VmMigration {migration.name} ended {now - migration.finished_at:.0f} s ago"
    return None


def scopes(spec: VirtualMachineSpec, location: Scope | None, migrations: tuple[MigrationRecord, ...]) -> list[Scope]:
    """Every (cluster, tenant) the VM may be in: where it was last seen first, then the spec's,
    then the destination of every migration of it, finished or not."""
    found: list[Scope] = []
    for scope in (location, (spec.cluster, spec.tenant), *(m.destination for m in migrations)):
        if scope is not None and scope not in found:
            found.append(scope)
    return found
