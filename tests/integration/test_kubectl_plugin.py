"""`kubectl vmop` (the kubectl-vmop console script) against the real apiserver, `vmop run` and
`vmop sim`: each command changes the object as docs/operations.md says, migrate follows a
migration to its end, status prints the summary, and the exit codes are the documented ones. The
real kubectl finds the plugin on PATH."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.test_vmmigration import (
    CLUSTER,
    POOL,
    TENANT,
    VM,
    annotations_of,
    faults,
    migrations_taking,
    other_host,
    ready_vm,
    running_vm,
    status,
    unique,
)
from tests.support.processes import Kube, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane
from vmop.dev.processes import free_ports

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent  # the venv's bin: where pip put kubectl-vmop
PLUGIN = BIN / "kubectl-vmop"
GIB = 1 << 30


def plugin(
    control_plane: ControlPlane, *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """kubectl-vmop as a person runs it: the control plane's kubeconfig through KUBECONFIG."""
    env = os.environ | {"KUBECONFIG": str(control_plane.kubeconfig)}
    return subprocess.run(
        [str(PLUGIN), *args], input=stdin or "", capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return done


def on_platform(sim: SimProcess, name: str, **config: Any) -> str:
    """A VM made behind vmop's back: one vCPU, 1 GiB, one 10 GiB virtio disk; its uuid."""
    disk = {"disk_target_bus": "virtio", "disk_unified_vsd": {"pool_uuid": POOL, "disk_capacity": 10 * GIB}}
    body = {"cluster_uuid": CLUSTER, "tenant": TENANT, "meta": {"compute_name": name}, "disks": [disk]}
    answer = sim.call("unified_create", body | {"cpu_sockets": 1, "cpu_socket_cores": 1, "mem_size": GIB} | config)
    item = answer["data"]["results"][0]
    assert item["scode"] == 0, answer
    uuid_: str = item["data"]["vm_uuid"]
    return uuid_


def calls(sim: SimProcess, endpoint: str) -> int:
    count: int = sim.stats()["calls"].get(endpoint, 0)
    return count


# --- kubectl finds it ------------------------------------------------------------------------------


def test_kubectl_runs_the_plugin_found_on_path(control_plane: ControlPlane, namespace: str) -> None:
    kubectl = str(control_plane.binaries.path("kubectl"))
    # A person's PATH with the folder pip installed into; kubectl's discovery cache kept apart.
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env |= {"KUBECONFIG": str(control_plane.kubeconfig), "KUBECACHEDIR": str(control_plane.state_dir / "kube-cache")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=60, check=False)

    listed = run("plugin", "list")
    assert str(PLUGIN) in listed.stdout, listed
    helped = run("vmop", "--help")
    assert helped.returncode == 0 and "migrate" in helped.stdout and "Exit codes" in helped.stdout, helped
    # kubectl hands the plugin's exit status back: a script can rely on it through kubectl too.
    missing = run("vmop", "status", "no-such-vm", "-n", namespace)
    assert missing.returncode == 3, missing
    assert f'VirtualMachine "no-such-vm" not found in namespace "{namespace}"' in missing.stderr
    # `vmop dev kubectl` (the README's tour) puts vmop's folder on PATH itself.
    assert "migrate" in control_plane.kubectl("vmop", "--help").stdout


# --- power and pause -------------------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_stop_start_and_restart_edit_the_power_state(
    control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str
) -> None:
    name, _ = ready_vm(kube)
    stopped = ok(plugin(control_plane, "stop", name, "-n", namespace, "--wait", "--timeout", "60"))
    assert stopped.stdout.strip() == f"virtualmachine.vmop.io/{name} powerState Stopped, Ready"
    found = kube.get(VM, name)
    assert found["spec"]["powerState"] == "Stopped" and found["status"]["state"] == "shutoff"

    restart_stopped = plugin(control_plane, "restart", name, "-n", namespace)
    assert restart_stopped.returncode == 1 and "use start" in restart_stopped.stderr

    started = ok(plugin(control_plane, "start", name, "-n", namespace, "--wait", "-o", "json"))
    shown = json.loads(started.stdout)
    assert (shown["spec"]["powerState"], shown["status"]["phase"]) == ("Running", "Running")
    assert kube.get(VM, name)["metadata"]["generation"] == shown["metadata"]["generation"]
    again = ok(plugin(control_plane, "start", name, "-n", namespace))
    assert again.stdout.strip() == f"virtualmachine.vmop.io/{name} powerState Running (unchanged)"

    starts = calls(sim, "start")
    restarted = ok(plugin(control_plane, "restart", name, "-n", namespace, "--wait", "--timeout", "90"))
    assert f"stopping {name}" in restarted.stderr and f"{name} stopped; starting" in restarted.stderr
    assert restarted.stdout.strip() == f"virtualmachine.vmop.io/{name} restarted, Ready"
    assert calls(sim, "start") == starts + 1  # stopped, then started: one start call more
    after = kube.get(VM, name)
    assert (after["spec"]["powerState"], after["status"]["state"]) == ("Running", "running")


@pytest.mark.usefixtures("operator")
def test_pause_and_unpause_set_and_remove_the_annotation(
    control_plane: ControlPlane, kube: Kube, namespace: str
) -> None:
    name, _ = ready_vm(kube)
    paused = ok(plugin(control_plane, "pause", name, "-n", namespace, "-o", "yaml"))
    assert yaml.safe_load(paused.stdout)["metadata"]["annotations"]["vmop.io/paused"] == "true"
    assert annotations_of(kube, VM, name)["vmop.io/paused"] == "true"
    wait_for(
        lambda: (condition(kube.get(VM, name), "Synced") or {}).get("reason") == "ReconcilePaused",
        timeout=30,
        what="the operator reports the pause",
    )
    # A stop asked for while paused waits: --wait times out (exit 4), the change stays asked for.
    waited = plugin(control_plane, "stop", name, "-n", namespace, "--wait", "--timeout", "3")
    assert waited.returncode == 4, waited
    assert "vmop.io/paused is set" in waited.stderr and "timed out waiting" in waited.stderr
    assert kube.get(VM, name)["status"]["state"] == "running"
    ok(plugin(control_plane, "unpause", name, "-n", namespace))
    assert "vmop.io/paused" not in annotations_of(kube, VM, name)
    wait_for(lambda: status(kube, VM, name).get("state") == "shutoff", timeout=60, what="stopped once unpaused")


# --- migrate ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_migrate_to_host_shows_progress_to_succeeded(
    control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str
) -> None:
    vm, vm_status = running_vm(kube)
    destination = other_host(vm_status["host"])
    with migrations_taking(sim, 6):
        done = ok(plugin(control_plane, "migrate", vm, "--to-host", destination, "-n", namespace))
    bars = re.findall(r"^\[([#-]{30})\] +(\d+)%  (\w+)", done.stderr, re.M)
    assert bars, done.stderr
    percents = [int(p) for _, p, _ in bars]
    assert percents == sorted(percents) and percents[-1] == 100, done.stderr
    assert bars[-1] == ("#" * 30, "100", "Succeeded"), done.stderr
    assert "Running" in {phase for _, _, phase in bars}, done.stderr  # followed while it ran
    (created,) = re.findall(r"vmmigration\.vmop\.io/(\S+) created", done.stderr)
    migration = kube.get("vmmigration", created)
    assert migration["spec"] == {"vmRef": {"name": vm}, "host": destination, "timeoutSeconds": 1800, "cancel": False}
    header, row = done.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "VM", "PHASE", "PROGRESS"]
    assert row.split()[:6] == [created, vm, "Succeeded", "100%", vm_status["host"], destination]


@pytest.mark.usefixtures("operator")
def test_a_failed_migration_exits_1_with_the_platform_error(
    control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str
) -> None:
    vm, vm_status = running_vm(kube)
    with faults(sim, forced_scode={"migrate": 21042}):
        failed = plugin(
            control_plane, "migrate", vm, "--to-host", other_host(vm_status["host"]), "-n", namespace, "-o", "json"
        )
    assert failed.returncode == 1, failed
    shown = json.loads(failed.stdout)
    assert (shown["status"]["phase"], shown["status"]["lastError"]["scode"]) == ("Failed", 21042)
    assert re.search(r"^\[-{30}\] +0%  Failed", failed.stderr, re.M), failed.stderr
    assert "lastError: scode 21042" in failed.stderr


@pytest.mark.usefixtures("operator")
def test_migrate_no_wait_and_to_cluster_flags(control_plane: ControlPlane, kube: Kube, namespace: str) -> None:
    vm, _ = ready_vm(kube, powerState="Stopped")
    host = "200e3364-e720-47e4-8b12-734422d6eae3"
    name = unique("nowait")
    made = ok(
        plugin(
            control_plane,
            "migrate",
            vm,
            "--to-host",
            host,
            "--no-wait",
            "--migration-name",
            name,
            "--migration-timeout",
            "60",
            "-n",
            namespace,
        )
    )
    assert name in made.stdout and "[" not in made.stderr  # no progress followed
    spec = kube.get("vmmigration", name)["spec"]
    assert (spec["vmRef"], spec["host"], spec["timeoutSeconds"]) == ({"name": vm}, host, 60)
    lacking = plugin(control_plane, "migrate", vm, "--to-cluster", CLUSTER, "--host-uuid", host, "-n", namespace)
    assert lacking.returncode == 2 and "--host-ip, --pool, --zone, --group" in lacking.stderr, lacking
    both = plugin(control_plane, "migrate", vm, "--to-host", host, "--to-cluster", CLUSTER, "-n", namespace)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr, both
    missing = plugin(control_plane, "migrate", "no-such-vm", "--to-host", host, "-n", namespace)
    assert missing.returncode == 3, missing


# --- status ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_status_prints_the_summary(control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str) -> None:
    name, found = running_vm(kube)
    with faults(sim, forced_scode={"vmemory/set": 21042}):
        # A cold change (pending until the next stop) and a hot one the platform refuses.
        kube.patch_spec(VM, name, {"cpu": {"sockets": 2, "cores": 1}, "memory": "2Gi"})
        wait_for(
            lambda: ((kube.get(VM, name) or {}).get("status") or {}).get("lastError", {}).get("scode") == 21042,
            timeout=30,
            what="the refusal in status",
        )
        error = status(kube, VM, name)["lastError"]
        shown = ok(plugin(control_plane, "status", name, "-n", namespace)).stdout
        data = json.loads(ok(plugin(control_plane, "status", name, "-n", namespace, "-o", "json")).stdout)
    lines = shown.splitlines()
    assert f"Name:             {name}" in lines and f"Namespace:        {namespace}" in lines
    assert "Phase:            Running" in lines and "Power state:      Running (spec)" in lines
    assert f"  UUID:           {found['uuid']}" in lines and f"  Host:           {found['host']}" in lines
    assert f"  Cluster/tenant: {CLUSTER} / {TENANT}" in lines
    assert any(line.startswith("  State:          running (action noaction, agent ") for line in lines), shown
    assert "Pending changes:  cpu.topology (applied at the next stop)" in lines, shown
    assert "  scode:          21042" in lines and "  operation:      /v1/compute/vmemory/set" in lines
    assert f"  message:        {error['message']}" in lines and f"  message (cn):   {error['messageCn']}" in lines
    assert error["message"] and error["messageCn"] and error["message"] != error["messageCn"]
    conditions = lines[lines.index("Conditions:") + 1 : lines.index("Events:")]
    assert conditions[0].split()[:4] == ["TYPE", "STATUS", "REASON", "AGE"]
    assert {row.split()[0] for row in conditions[1:]} >= {"Ready", "Synced", "RestartRequired"}
    assert any(row.split()[:3] == ["Synced", "False", "ComputeError"] for row in conditions[1:]), shown
    events = lines[lines.index("Events:") + 1 :]
    reasons = {e["reason"] for e in kube.events(name)}
    assert events[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"] and len(events) > 1
    assert {row.split()[2] for row in events[1:]} <= reasons and "ComputeError" in shown
    assert (data["phase"], data["platform"]["uuid"], data["pendingChanges"]) == (
        "Running",
        found["uuid"],
        ["cpu.topology"],
    )
    assert data["lastError"]["scode"] == 21042 and {e["reason"] for e in data["events"]} <= reasons


# --- adopt and release -----------------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_adopt_creates_a_virtualmachine_that_adopts_the_platform_vm(
    control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str, tmp_path: Path
) -> None:
    watched = on_platform(sim, unique("watched"))
    name = unique("observe")
    args = ["adopt", name, "--uuid", watched, "--cluster", CLUSTER, "--tenant", TENANT, "-n", namespace]
    refused = plugin(control_plane, *args)  # neither the shape nor --observe-only: the defaults would apply
    assert refused.returncode == 2 and "--observe-only" in refused.stderr and kube.get(VM, name) is None
    ok(plugin(control_plane, *args, "--observe-only"))
    assert kube.get(VM, name)["spec"]["adopt"] == {"uuid": watched, "observeOnly": True}
    wait_for(lambda: status(kube, VM, name).get("uuid") == watched, timeout=30, what="observed")

    legacy = on_platform(sim, unique("legacy"))
    manifest = tmp_path / "vm.yaml"
    shape = {"cpu": {"sockets": 1, "cores": 1}, "memory": "1Gi", "powerState": "Stopped"}
    shape["disks"] = [{"name": "root", "bus": "virtio", "size": "10Gi", "pool": POOL}]
    body = {"apiVersion": "vmop.io/v1alpha1", "kind": "VirtualMachine", "metadata": {"labels": {"app": "legacy"}}}
    manifest.write_text(yaml.safe_dump(body | {"spec": shape | {"cluster": CLUSTER, "tenant": TENANT}}))
    adopter = unique("adopt")
    made = ok(plugin(control_plane, "adopt", adopter, "--uuid", legacy, "-f", str(manifest), "-n", namespace))
    assert f"it adopts platform VM {legacy}" in made.stdout
    found = kube.get(VM, adopter)
    assert found["spec"]["adopt"] == {"uuid": legacy, "observeOnly": False} and found["spec"]["memory"] == "1Gi"
    assert found["metadata"]["labels"] == {"app": "legacy"}
    synced = wait_for(
        lambda: (c := condition(kube.get(VM, adopter), "Synced")) and c["status"] == "True" and c,
        timeout=30,
        what="the adopted VM in sync",
    )
    assert synced and status(kube, VM, adopter)["uuid"] == legacy
    assert [d["name"] for d in status(kube, VM, adopter)["disks"]] == ["root"]  # its disk, not a new one
    taken = plugin(control_plane, "adopt", adopter, "--uuid", legacy, "-f", str(manifest), "-n", namespace)
    assert taken.returncode == 5 and "AlreadyExists" in taken.stderr, taken


@pytest.mark.usefixtures("operator")
def test_release_asks_first_and_then_lets_go_of_the_vm(
    control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str
) -> None:
    name, found = ready_vm(kube, deletionPolicy="Delete")
    declined = plugin(control_plane, "release", name, "-n", namespace, stdin="n\n")
    assert declined.returncode == 1 and "[y/N]" in declined.stderr and "not released" in declined.stderr
    assert found["uuid"] in declined.stderr  # the question names the VM that stays
    assert "vmop.io/force-release" not in annotations_of(kube, VM, name)
    unanswered = plugin(control_plane, "release", name, "-n", namespace)  # no terminal, no answer: no
    assert unanswered.returncode == 1 and "vmop.io/force-release" not in annotations_of(kube, VM, name)

    released = ok(plugin(control_plane, "release", name, "-n", namespace, "--yes"))
    assert "force-released" in released.stdout
    assert annotations_of(kube, VM, name)["vmop.io/force-release"] == "true"
    kube.delete(VM, name)
    wait_for(lambda: kube.get(VM, name) is None, timeout=30, what="the object let go")
    assert sim.inspect(CLUSTER, TENANT, found["uuid"])["scode"] == 0  # deletionPolicy Delete, yet the VM stays


# --- globals and exit codes ------------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_namespace_from_the_kubeconfig_context_and_exit_codes(
    control_plane: ControlPlane, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    name, _ = ready_vm(kube)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(control_plane.kubeconfig.read_text())
    control_plane.kubectl(
        "config", "set-context", "--current", f"--namespace={namespace}", f"--kubeconfig={kubeconfig}"
    )
    shown = ok(plugin(control_plane, "--kubeconfig", str(kubeconfig), "status", name))
    assert f"Namespace:        {namespace}" in shown.stdout
    # Against the default namespace (the admin kubeconfig's context names none) it is not found.
    for command in (["status"], ["start"], ["stop"], ["restart"], ["pause"], ["unpause"], ["release", "--yes"]):
        missing = plugin(control_plane, *command, name)
        assert missing.returncode == 3 and 'in namespace "default"' in missing.stderr, (command, missing)
    assert plugin(control_plane, "frobnicate", name).returncode == 2
    assert plugin(control_plane, "status", name, "-o", "xml").returncode == 2
    assert plugin(control_plane, "status").returncode == 2


def test_probe_runs_vmop_probe(control_plane: ControlPlane, sim: SimProcess) -> None:
    probed = ok(plugin(control_plane, "probe", "--compute-url", sim.url, "--cluster", CLUSTER))
    assert "verdict: vmop can work here" in probed.stdout and "not-found answer" in probed.stdout
    (port,) = free_ports(1)
    unreachable = plugin(control_plane, "probe", "--compute-url", f"http://127.0.0.1:{port}")
    assert unreachable.returncode == 1 and "platform unreachable" in unreachable.stdout
