"""reconcile/identity.py: which object manages a VM, and where a VM may be."""

from __future__ import annotations

from tests.support.reconcile import CLUSTER, TENANT, spec
from vmop.reconcile.identity import Claim, MigrationRecord, migration_doubt, rightful_owner, scopes

OTHER = ("650ea11b-0000-4000-8000-000000000001", TENANT)


def claim(name: str, created: str, *, recorded: bool) -> Claim:
    return Claim("ns", name, f"uid-{name}", created, recorded)


def test_the_object_that_has_the_vm_recorded_manages_it_even_if_younger() -> None:
    owner = claim("owner", "2026-12-02T10:00:00Z", recorded=True)
    adopter = claim("adopter", "2026-01-01T00:00:00Z", recorded=False)
    assert rightful_owner([adopter, owner]) == owner


def test_of_two_that_record_or_two_that_ask_the_oldest_wins() -> None:
    first = claim("b-first", "2026-12-01T00:00:00Z", recorded=True)
    copy = claim("a-copy", "2026-12-02T00:00:00Z", recorded=True)  # e.g. a manifest copied with its annotations
    assert rightful_owner([copy, first]) == first
    one, two = (
        claim("one", "2026-12-01T00:00:00Z", recorded=False),
        claim("two", "2026-12-01T00:00:01Z", recorded=False),
    )
    assert rightful_owner([two, one]) == one


def test_unfinished_and_just_finished_migrations_are_doubts_older_ones_not() -> None:
    running = MigrationRecord("m1", "Running", OTHER)
    assert migration_doubt((running,), now=100, settle=60) == "VmMigration m1 is Running"
    assert migration_doubt((MigrationRecord("m0", None, None),), now=100, settle=60) == "VmMigration m0 is new"
    recent = MigrationRecord("m2", "Succeeded", OTHER, finished_at=90)
    assert migration_doubt((recent,), now=100, settle=60) == "VmMigration m2 ended 10 s ago"
    assert migration_doubt((recent,), now=200, settle=60) is None
    assert migration_doubt((), now=100, settle=60) is None


def test_scopes_are_where_it_was_seen_then_its_spec_then_every_migration_destination() -> None:
    migrations = (MigrationRecord("m1", "Succeeded", OTHER, 1.0), MigrationRecord("m2", "Failed", None))
    assert scopes(spec(), None, migrations) == [(CLUSTER, TENANT), OTHER]
    assert scopes(spec(), OTHER, migrations) == [OTHER, (CLUSTER, TENANT)]
