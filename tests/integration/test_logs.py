"""The operator's log over a normal lifecycle: ERROR only for what needs a person. Waits that are
part of the work (a child group for its parent, the platform settling, a guest stopping, a parent
for its children) are logged below ERROR. This module has its own operator, so its log holds
only what the test did."""

from __future__ import annotations

import re

import pytest
from tests.integration.test_virtualmachine_lifecycle import manifest, platform_vm, unique, wait_gone, wait_ready
from tests.integration.test_vmgroup import group, wait_group_ready
from tests.integration.test_vmmigration import MIGRATION, migration_manifest, other_host, running_vm, wait_phase
from tests.support.processes import Kube, OperatorProcess, SimProcess, wait_for

pytestmark = pytest.mark.integration

LEVEL = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) ")


def lines_at(log: str, level: str) -> list[str]:
    return [line for line in log.splitlines() if (m := LEVEL.match(line)) and m["level"] == level]


def test_a_normal_lifecycle_logs_no_error(kube: Kube, sim: SimProcess, operator: OperatorProcess) -> None:
    parent, child, vm = unique("parent"), unique("child"), unique("logged")
    kube.apply(group(child, parentRef={"name": parent}))  # before its parent: it waits
    kube.apply(group(parent))
    wait_group_ready(kube, child)
    kube.apply(manifest(vm, groupRef={"name": child}))
    uuid_ = wait_ready(kube, vm)["status"]["uuid"]
    kube.patch_spec("virtualmachine", vm, {"memory": "4Gi"})  # hot
    wait_for(lambda: platform_vm(sim, uuid_)["mem_size"] == 4 * 1024**3, what="memory raised")
    kube.patch_spec("virtualmachine", vm, {"powerState": "Stopped"})  # a graceful shutdown: waits for the guest
    wait_for(lambda: platform_vm(sim, uuid_)["state"] == "shutoff", timeout=60, what="stopped")
    kube.patch_spec("virtualmachine", vm, {"powerState": "Running"})
    wait_ready(kube, vm)
    moving, moving_status = running_vm(kube)
    migration = unique("move")
    kube.apply(migration_manifest(migration, moving, host=other_host(moving_status["host"])))
    assert wait_phase(kube, migration, "Succeeded", "Failed")["phase"] == "Succeeded"
    kube.delete(MIGRATION, migration)
    kube.delete("virtualmachine", moving)
    kube.delete("vmgroup", parent)  # before its child: it waits for it
    kube.delete("virtualmachine", vm)
    wait_gone(kube, vm)
    kube.delete("vmgroup", child)
    wait_for(lambda: kube.get("vmgroup", parent) is None, timeout=60, what="parent group deleted after its child")
    wait_gone(kube, moving)

    log = operator.output()
    assert not lines_at(log, "ERROR"), "\n".join(lines_at(log, "ERROR"))
    # The waits were there, and are logged as what they are: the parent's deletion waited for its child.
    assert any("waiting to delete" in line for line in lines_at(log, "INFO")), log[-4000:]
