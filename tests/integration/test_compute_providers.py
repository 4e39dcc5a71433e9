"""ComputeProviders on the real apiserver with two token-protected simulators (two "platforms"):
one vmop, with the chart's least-privilege RBAC, serves VMs in namespaces allowed to each on the
right platform; refuses a namespace neither allows without calling either; picks up a rotated
Secret without a restart; and holds a provider's deletion while a VM uses it, naming the VM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_sharding import CLUSTER, TENANT, manifest, ready
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, sim_profile, wait_for
from tests.support.rbac import install_chart_rbac

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

TOKENS = {"a": "token-of-platform-a", "b": "token-of-platform-b"}
PROVIDER = "computeprovider"


@pytest.fixture(scope="module")
def sims(logs: Path) -> Iterator[dict[str, SimProcess]]:
    started = {key: SimProcess.start(logs, token=token, dialect=sim_profile()) for key, token in TOKENS.items()}
    yield started
    for process in started.values():
        process.stop()


@pytest.fixture(scope="module")
def suffix() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def spaces(control_plane: ControlPlane, suffix: str) -> Iterator[dict[str, Kube]]:
    """a: allowed to provider a by name; b: to provider b by a label; x: to neither; and the
    release namespace, where the providers' Secrets are."""
    made = {key: f"prov-{key}-{suffix}" for key in ("a", "b", "x", "system")}
    for name in made.values():
        control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl("label", "namespace", made["b"], f"hci-{suffix}=b")
    yield {key: Kube(control_plane, name) for key, name in made.items()}
    for name in made.values():
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def secret(plane: ControlPlane, namespace: str, name: str, token: str) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"token": token}}
    plane.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))


def provider(name: str, url: str, secret_name: str, allowed: dict[str, Any]) -> dict[str, Any]:
    spec = {"url": url, "secretRef": {"name": secret_name}, "allowedNamespaces": allowed}
    return {"apiVersion": "vmop.io/v1alpha1", "kind": "ComputeProvider", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(scope="module")
def providers(
    control_plane: ControlPlane, sims: dict[str, SimProcess], spaces: dict[str, Kube], suffix: str
) -> Iterator[dict[str, str]]:
    system = spaces["system"].namespace
    names = {key: f"hci-{key}-{suffix}" for key in ("a", "b", "rot")}
    secret(control_plane, system, names["a"], TOKENS["a"])
    secret(control_plane, system, names["b"], TOKENS["b"])
    secret(control_plane, system, names["rot"], "a-stale-token")  # rotated in a test below
    allowed = {
        "a": {"names": [spaces["a"].namespace]},
        "b": {"selector": {"matchLabels": {f"hci-{suffix}": "b"}}},
        "rot": {"names": [spaces["a"].namespace]},
    }
    urls = {"a": sims["a"].url, "b": sims["b"].url, "rot": sims["a"].url}
    for key, name in names.items():
        spaces["system"].apply(provider(name, urls[key], name, allowed[key]))
    yield names
    for name in names.values():  # cluster-scoped: they outlive the namespaces unless removed
        control_plane.kubectl(
            "patch", PROVIDER, name, "--type=merge", "-p", '{"metadata":{"finalizers":[]}}', check=False
        )
        control_plane.kubectl("delete", PROVIDER, name, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    sims: dict[str, SimProcess],
    spaces: dict[str, Kube],
    providers: dict[str, str],
    logs: Path,
) -> Iterator[OperatorProcess]:
    system = spaces["system"].namespace
    watched = [spaces[key].namespace for key in ("a", "b", "x")]
    cluster_scoped: list[str] = []
    values = [f"watchNamespaces={{{','.join(watched)}}}", "computeProviders.enabled=true"]
    _, kubeconfig = install_chart_rbac(control_plane, logs, system, cluster_scoped, *values)
    # Its own --compute-url is platform a without credentials: no object here may end up on it.
    process = OperatorProcess(
        control_plane,
        sims["a"].url,
        logs,
        watched,
        extra=["--compute-providers", "--provider-secrets-namespace", system],
        kubeconfig=kubeconfig,
    ).start()
    yield process
    process.stop()
    print(f"operator log ({process.log}):\n{process.output()[-4000:]}")
    control_plane.kubectl("delete", *cluster_scoped, "--ignore-not-found", check=False)


def on(name: str, provider_name: str) -> dict[str, Any]:
    vm = manifest(name)
    vm["spec"]["providerRef"] = {"name": provider_name}
    return vm


def platform_names(sim: SimProcess) -> set[str]:
    return {vm["name"] for vm in sim.vms(CLUSTER, TENANT)}


def creates(sim: SimProcess) -> int:
    return sum(count for endpoint, count in sim.stats()["calls"].items() if "create" in endpoint)


def synced(kube: Kube, kind: str, name: str) -> dict[str, Any] | None:
    return condition(kube.get(kind, name), "Synced")


def provider_ready(plane: ControlPlane, name: str) -> dict[str, Any] | None:
    found = json.loads(plane.kubectl("get", PROVIDER, name, "-o", "json").stdout)
    ready_condition = condition(found, "Ready")
    return found if ready_condition and ready_condition["status"] == "True" else None


def test_vms_in_namespaces_allowed_to_each_provider_converge_on_its_platform(
    control_plane: ControlPlane,
    sims: dict[str, SimProcess],
    spaces: dict[str, Kube],
    providers: dict[str, str],
    operator: OperatorProcess,
) -> None:
    spaces["a"].apply(on("web-a", providers["a"]))
    spaces["b"].apply(on("web-b", providers["b"]))
    wait_for(lambda: ready(spaces["a"], "web-a"), timeout=90, what="web-a Ready")
    wait_for(lambda: ready(spaces["b"], "web-b"), timeout=90, what="web-b Ready")
    assert "web-a" in platform_names(sims["a"]) and "web-a" not in platform_names(sims["b"])
    assert "web-b" in platform_names(sims["b"]) and "web-b" not in platform_names(sims["a"])
    assert (spaces["a"].get("virtualmachine", "web-a") or {})["status"]["provider"] == providers["a"]
    # An object stays on its provider's platform: providerRef can be neither changed nor removed.
    for patch in ({"providerRef": {"name": providers["b"]}}, {"providerRef": None}):
        moved = control_plane.kubectl(
            "patch", "virtualmachine", "web-a", "-n", spaces["a"].namespace, "--type=merge",
            "-p", json.dumps({"spec": patch}), check=False,
        )  # fmt: skip
        assert moved.returncode != 0 and "spec.providerRef" in moved.stderr and "immutable" in moved.stderr
    for key in ("a", "b"):
        found = wait_for(lambda key=key: provider_ready(control_plane, providers[key]), timeout=30, what="Ready")
        assert found["status"]["reachable"] and found["status"]["authenticated"]
        assert CLUSTER in found["status"]["clusters"] and TENANT in found["status"]["tenants"]


def test_a_namespace_no_provider_allows_is_refused_and_nothing_is_called(
    sims: dict[str, SimProcess], spaces: dict[str, Kube], providers: dict[str, str], operator: OperatorProcess
) -> None:
    before = {key: creates(sim) for key, sim in sims.items()}
    spaces["x"].apply(on("web-x", providers["a"]))
    refused = wait_for(
        lambda: (c := synced(spaces["x"], "virtualmachine", "web-x")) and c["status"] == "False" and c,
        timeout=30,
        what="web-x refused",
    )
    assert refused["reason"] == "ProviderNotAllowed" and spaces["x"].namespace in refused["message"]
    assert any(e["reason"] == "ProviderNotAllowed" for e in spaces["x"].events("web-x")), "a Warning Event"
    assert not (spaces["x"].get("virtualmachine", "web-x") or {})["metadata"].get("finalizers")
    for key, sim in sims.items():
        assert "web-x" not in platform_names(sim)
        assert creates(sim) == before[key], f"no create on platform {key}"


def test_a_rotated_provider_secret_is_picked_up_without_a_restart(
    control_plane: ControlPlane,
    sims: dict[str, SimProcess],
    spaces: dict[str, Kube],
    providers: dict[str, str],
    operator: OperatorProcess,
) -> None:
    name = providers["rot"]

    def authenticated() -> bool | None:
        found = json.loads(control_plane.kubectl("get", PROVIDER, name, "-o", "json").stdout)
        value: bool | None = (found.get("status") or {}).get("authenticated")
        return value

    wait_for(lambda: authenticated() is False, timeout=30, what="the stale token refused")
    spaces["a"].apply(on("web-rot", name))
    wait_for(
        lambda: (c := synced(spaces["a"], "virtualmachine", "web-rot")) and c["status"] == "False",
        timeout=30,
        what="web-rot not synced with the stale token",
    )
    assert "web-rot" not in platform_names(sims["a"])
    secret(control_plane, spaces["system"].namespace, name, TOKENS["a"])
    wait_for(lambda: ready(spaces["a"], "web-rot"), timeout=90, what="web-rot Ready after the rotation")
    wait_for(lambda: authenticated() is True, timeout=60, what="the provider authenticated")
    assert "web-rot" in platform_names(sims["a"])
    assert operator.starts == 1 and operator.process is not None and operator.process.poll() is None
    assert "token-of-platform-a" not in operator.output() and "a-stale-token" not in operator.output()


def test_deleting_a_provider_in_use_waits_and_names_the_objects(
    control_plane: ControlPlane,
    sims: dict[str, SimProcess],
    spaces: dict[str, Kube],
    providers: dict[str, str],
    operator: OperatorProcess,
) -> None:
    name = providers["b"]
    wait_for(lambda: ready(spaces["b"], "web-b"), timeout=60, what="web-b Ready")
    control_plane.kubectl("delete", PROVIDER, name, "--wait=false")

    def waiting() -> dict[str, Any] | None:
        found = json.loads(control_plane.kubectl("get", PROVIDER, name, "-o", "json").stdout)
        ready_condition = condition(found, "Ready")
        return found if ready_condition and ready_condition["reason"] == "InUse" else None

    found = wait_for(waiting, timeout=30, what="the deletion waiting")
    user = f"VirtualMachine {spaces['b'].namespace}/web-b"
    assert found["status"]["inUseBy"] == [user] and user in condition(found, "Ready")["message"]
    spaces["b"].delete("virtualmachine", "web-b")
    wait_for(lambda: spaces["b"].get("virtualmachine", "web-b") is None, timeout=60, what="web-b deleted")
    assert "web-b" not in platform_names(sims["b"]), "deleted through its provider"
    gone = control_plane.kubectl("get", PROVIDER, name, "--ignore-not-found", "-o", "name")
    wait_for(
        lambda: not control_plane.kubectl("get", PROVIDER, name, "--ignore-not-found", "-o", "name").stdout.strip(),
        timeout=30,
        what=f"the provider gone ({gone.stdout.strip()})",
    )
