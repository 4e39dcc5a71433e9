"""VmPool against the real apiserver, `vmop run` (with the chart's RBAC and admission policy) and
`vmop sim`: `kubectl scale` up and down, a rollout of a change that needs a restart with
maxUnavailable 1 watched VM by VM, the apiserver's refusals, and deletion through the VMs' own path."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import CLUSTER, POOL, PORT_GROUP, TENANT, manifest, unique
from tests.support.processes import Kube, SimProcess, condition, wait_for

from vmop.api.annotations import LABEL_POOL, LABEL_POOL_TEMPLATE_HASH
from vmop.dev.controlplane import ControlPlane

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("operator")]


def vm_pool(name: str, replicas: int, **template_spec: Any) -> dict[str, Any]:
    spec = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "cpu": {"sockets": 1, "cores": 2},
        "memory": "1Gi",
        "disks": [{"name": "root", "bus": "scsi", "size": "10Gi", "pool": POOL}],
        "interfaces": [{"name": "eth0", "network": "ycb123", "portGroup": PORT_GROUP}],
    } | template_spec
    return {
        "apiVersion": "vmop.io/v1alpha1",
        "kind": "VmPool",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, "tier": "web"}}, "spec": spec},
        },
    }


def pool_vms(kube: Kube, pool: str) -> dict[str, dict[str, Any]]:
    selector = f"{LABEL_POOL}={pool}"
    done = kube.plane.kubectl("get", "virtualmachines", "-n", kube.namespace, "-l", selector, "-o", "json")
    return {vm["metadata"]["name"]: vm for vm in json.loads(done.stdout)["items"]}


def platform_vms(sim: SimProcess, pool: str) -> dict[str, dict[str, Any]]:
    return {vm["name"]: vm for vm in sim.vms(CLUSTER, TENANT) if vm["name"].startswith(f"{pool}-")}


def is_ready(vm: dict[str, Any]) -> bool:
    ready = condition(vm, "Ready")
    return ready is not None and ready["status"] == "True"


def wait_converged(kube: Kube, sim: SimProcess, pool: str, replicas: int, timeout: float = 120) -> dict[str, Any]:
    """The pool Ready with exactly ``replicas`` VirtualMachines, each Ready, and exactly their VMs
    on the platform (by name, and each object's uuid)."""

    def converged() -> dict[str, Any] | None:
        found = kube.get("vmpool", pool) or {}
        status = found.get("status") or {}
        vms = pool_vms(kube, pool)
        if status.get("readyReplicas") != replicas or status.get("replicas") != replicas or len(vms) != replicas:
            return None
        if not all(is_ready(vm) and not vm["metadata"].get("deletionTimestamp") for vm in vms.values()):
            return None
        platform = platform_vms(sim, pool)
        if set(platform) != set(vms) or {v["uuid"] for v in platform.values()} != {
            vm["status"]["uuid"] for vm in vms.values()
        }:
            return None
        return found

    return wait_for(converged, timeout=timeout, interval=0.5, what=f"VmPool {pool} at {replicas} Ready VMs")


def test_kubectl_scale_up_and_down_converges_with_exactly_the_right_vms(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane
) -> None:
    name = unique("web")
    kube.apply(vm_pool(name, 1))
    wait_converged(kube, sim, name, 1)
    control_plane.kubectl("scale", f"vmpool/{name}", "-n", kube.namespace, "--replicas=5")
    pool = wait_converged(kube, sim, name, 5)
    assert condition(pool, "Ready")["status"] == "True"
    assert condition(pool, "Progressing")["status"] == "False"
    vms = pool_vms(kube, name)
    for vm in vms.values():
        (owner,) = vm["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("VmPool", name, pool["metadata"]["uid"])
        assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
        assert vm["metadata"]["labels"][LABEL_POOL_TEMPLATE_HASH] == pool["status"]["templateHash"]
        assert vm["metadata"]["labels"]["tier"] == "web"
    # The scale subresource, as kubectl scale and an HPA read it.
    scale = json.loads(
        control_plane.kubectl(
            "get", "--raw", f"/apis/vmop.io/v1alpha1/namespaces/{kube.namespace}/vmpools/{name}/scale"
        ).stdout
    )
    assert scale["spec"]["replicas"] == 5 and scale["status"] == {"replicas": 5, "selector": f"app={name}"}

    control_plane.kubectl("scale", f"vmpool/{name}", "-n", kube.namespace, "--replicas=2")
    wait_converged(kube, sim, name, 2)
    kept = pool_vms(kube, name)
    assert set(kept) < set(vms), "scaling down deletes VMs, it makes none"
    oldest = sorted(vms, key=lambda n: (vms[n]["metadata"]["creationTimestamp"], n))
    assert set(kept) <= set(oldest[:3]), "the newest go first"  # creation times have one-second grain

    kube.delete("vmpool", name)
    wait_for(lambda: not pool_vms(kube, name) and not platform_vms(sim, name), timeout=90, what="pool's VMs deleted")


class Watcher:
    """`kubectl get -w` of the pool's VirtualMachines: the most VMs not Ready at any one time."""

    def __init__(self, plane: ControlPlane, namespace: str, pool: str) -> None:
        kubectl = str(plane.binaries.path("kubectl"))
        self.process = subprocess.Popen(
            [kubectl, "get", "virtualmachines", "-n", namespace, "-l", f"{LABEL_POOL}={pool}", "-w", "-o", "json"],
            stdout=subprocess.PIPE,
            text=True,
            env=plane.env(),
        )
        self.ready: dict[str, bool] = {}
        self.most_not_ready = 0
        self.seen_not_ready: set[str] = set()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.process.stdout:
            buffer += line
            try:
                vm, end = decoder.raw_decode(buffer.lstrip())
            except json.JSONDecodeError:
                continue
            buffer = buffer.lstrip()[end:]
            name = vm["metadata"]["name"]
            self.ready[name] = is_ready(vm) and not vm["metadata"].get("deletionTimestamp")
            if not self.ready[name]:
                self.seen_not_ready.add(name)
            self.most_not_ready = max(self.most_not_ready, sum(not r for r in self.ready.values()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def test_a_change_that_needs_a_restart_rolls_one_vm_at_a_time(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane
) -> None:
    name = unique("roll")
    kube.apply(vm_pool(name, 3))
    before = wait_converged(kube, sim, name, 3)
    names = set(pool_vms(kube, name))
    watcher = Watcher(control_plane, kube.namespace, name)
    try:
        wait_for(lambda: len(watcher.ready) == 3, what="the watch's first listing")
        assert watcher.most_not_ready == 0
        # Two sockets instead of one: a topology change, which the platform takes only while off.
        kube.apply(vm_pool(name, 3, cpu={"sockets": 2, "cores": 2}))

        def rolled() -> dict[str, Any] | None:
            found = kube.get("vmpool", name) or {}
            status = found.get("status") or {}
            done = status.get("templateHash") != before["status"]["templateHash"] and status.get("updatedReplicas") == 3
            return found if done and status.get("readyReplicas") == 3 else None

        after = wait_for(rolled, timeout=240, interval=0.5, what="the rollout done")
        wait_converged(kube, sim, name, 3)
    finally:
        watcher.stop()
    assert watcher.most_not_ready == 1, "maxUnavailable 1: never two VMs out at once, and each was restarted"
    assert watcher.seen_not_ready == names, "every VM restarted"
    vms = pool_vms(kube, name)
    assert set(vms) == names, "restarted in place, none replaced"
    for vm in vms.values():
        assert vm["metadata"]["labels"][LABEL_POOL_TEMPLATE_HASH] == after["status"]["templateHash"]
        shape = sim.inspect(CLUSTER, TENANT, vm["status"]["uuid"])["data"]
        assert (shape["cpu_sockets"], shape["cpu_socket_cores"]) == (2, 2), shape
    kube.delete("vmpool", name)
    wait_for(lambda: not platform_vms(sim, name), timeout=90, what="pool's VMs deleted")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["spec"]["template"]["spec"].update(name="fixed"), "template.spec.name cannot be set"),
        (
            lambda p: p["spec"].update(updateStrategy={"rollingUpdate": {"maxUnavailable": "0%"}}),
            "maxUnavailable must be an integer >= 1",
        ),
        (lambda p: p["spec"]["selector"]["matchLabels"].update(app="other"), "must include every label"),
        (
            lambda p: p["spec"]["template"]["spec"]["interfaces"][0].update(mac="02:00:00:00:00:01"),
            "cannot set mac or boundIp",
        ),
        (
            lambda p: p["spec"]["template"]["spec"].update(
                haMode="off", pci=[{"name": "gpu", "address": "0000:3b:00.0"}]
            ),
            "template pci and mdev devices cannot be set",
        ),
    ],
    ids=["platform-name", "zero-unavailable", "selector-mismatch", "shared-mac", "shared-pci"],
)
def test_the_apiserver_refuses_a_pool_that_cannot_work(kube: Kube, change: Any, message: str) -> None:
    pool = vm_pool(unique("bad"), 1)
    change(pool)
    done = kube.apply(pool, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_the_operators_identity_creates_changes_and_deletes_only_a_pools_vms(
    kube: Kube, control_plane: ControlPlane, least_privilege: Path
) -> None:
    """The chart's admission policy, with vmop's own token: a VirtualMachine no VmPool controls can be
    neither created, nor have its spec changed, nor be deleted; nor can an ownerReference be added."""
    pool = vm_pool(unique("own"), 0)
    kube.apply(pool)
    uid = kube.get("vmpool", pool["metadata"]["name"])["metadata"]["uid"]
    owner = {"apiVersion": "vmop.io/v1alpha1", "kind": "VmPool", "name": pool["metadata"]["name"], "uid": uid}
    owned = {**manifest(unique("owned")), "metadata": {"name": unique("owned"), "ownerReferences": [owner]}}
    owned["metadata"]["ownerReferences"][0] |= {"controller": True, "blockOwnerDeletion": True}
    loose = manifest(unique("loose"))

    def as_vmop(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return control_plane.kubectl(
            "--kubeconfig", str(least_privilege), "-n", kube.namespace, *args, stdin=stdin, check=False
        )

    refused = as_vmop("create", "-f", "-", stdin=json.dumps(loose))
    assert refused.returncode != 0 and "only VirtualMachines a VmPool controls" in refused.stderr, refused.stderr
    made = as_vmop("create", "-f", "-", stdin=json.dumps(owned))
    assert made.returncode == 0, made.stderr
    kube.apply(loose)  # by the admin
    resize = json.dumps({"spec": {"memory": "3Gi"}})
    for name, allowed in ((owned["metadata"]["name"], True), (loose["metadata"]["name"], False)):
        done = as_vmop("patch", "virtualmachine", name, "--type=merge", "-p", resize)
        assert (done.returncode == 0) == allowed, (name, done.stderr)
    grab = json.dumps({"metadata": {"ownerReferences": [owner | {"controller": True}]}})
    done = as_vmop("patch", "virtualmachine", loose["metadata"]["name"], "--type=merge", "-p", grab)
    assert done.returncode != 0 and "may not change ownerReferences" in done.stderr, done.stderr
    done = as_vmop("delete", "virtualmachine", loose["metadata"]["name"], "--wait=false")
    assert done.returncode != 0 and "only VirtualMachines a VmPool controls" in done.stderr, done.stderr
    kube.delete("vmpool", pool["metadata"]["name"])
    kube.delete("virtualmachine", loose["metadata"]["name"])
