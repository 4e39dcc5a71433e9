"""Security promises, against the real control plane and `vmop sim`/`vmop run` processes:

* credentials come only from a Secret, and no log, event, status or metric ever shows them;
* TLS to the platform is verified by default: a CA from the Secret works, a missing CA fails with a
  clear TLS error in status, and --insecure-skip-verify works and says so in the log;
* vmop runs under the Helm chart's own role (a ServiceAccount token bound to the rendered ClusterRole)
  through a VM's lifecycle, and what that role does not grant fails loudly;
* the chart's admission policy refuses a spec change made with that identity, and nothing vmop writes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.test_virtualmachine_lifecycle import CLUSTER, GIB, TENANT, manifest, unique
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, wait_for
from tests.support.rbac import (
    ADMISSION_KINDS,
    RBAC_KINDS,
    SECRET_NAME,
    as_identity,
    install_chart_rbac,
    kubeconfig_for,
)

from vmop.api.annotations import FINALIZER
from vmop.controller.kube import KubeAccess
from vmop.dev.controlplane import ControlPlane
from vmop.dev.pki import Pki, make_pki
from vmop.engine import WriteLimiter

pytestmark = pytest.mark.integration

USERNAME = "vmop-svc"
PASSWORD = f"pw-{secrets.token_hex(12)}"


# --- fixtures and helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token() -> str:
    return f"tok-{secrets.token_urlsafe(24)}"


@pytest.fixture(scope="module")
def token_sim(logs: Path, token: str) -> Iterator[SimProcess]:
    """A platform that requires a bearer token (and refuses anything else with scode 10003)."""
    process = SimProcess.start(logs, token=token)
    yield process
    process.stop()


@pytest.fixture
def namespaces(control_plane: ControlPlane) -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def make() -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        control_plane.kubectl("create", "namespace", name)
        created.append(name)
        return name

    yield make
    for name in created:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operators() -> Iterator[list[OperatorProcess]]:
    """Operators a test starts; stopped afterwards, their log tails printed."""
    started: list[OperatorProcess] = []
    yield started
    for process in started:
        process.stop()
        print(f"operator log ({process.log}):\n{process.output()[-3000:]}")


def create_secret(plane: ControlPlane, namespace: str, name: str, **data: str) -> None:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "data": encoded}
    plane.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(secret))


def start_operator(
    operators: list[OperatorProcess], plane: ControlPlane, url: str, logs: Path, namespace: str, *extra: str
) -> OperatorProcess:
    process = OperatorProcess(plane, url, logs, [namespace], extra=list(extra))
    operators.append(process)
    return process.start()


def status(kube: Kube, name: str) -> dict[str, Any]:
    return ((kube.get("virtualmachine", name) or {}).get("status")) or {}


def wait_ready(kube: Kube, name: str, timeout: float = 40) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        found = kube.get("virtualmachine", name)
        ok = condition(found, "Ready")
        if (
            found
            and ok
            and ok["status"] == "True"
            and found["status"].get("observedGeneration") == found["metadata"].get("generation")
        ):
            return found
        return None

    return wait_for(ready, timeout=timeout, what=f"{name} Ready")


def wait_error(kube: Kube, name: str, scode: int, timeout: float = 30) -> dict[str, Any]:
    def failed() -> dict[str, Any] | None:
        error = status(kube, name).get("lastError")
        return error if error and error["scode"] == scode else None

    error: dict[str, Any] = wait_for(failed, timeout=timeout, what=f"{name}: lastError {scode}")
    return error


def everything_shown(plane: ControlPlane, namespaces: list[str]) -> dict[str, str]:
    """What vmop wrote to the cluster: every event and every vmop object (status included)."""
    shown = {}
    for namespace in namespaces:
        for kind in ("events", "virtualmachines", "vmgroups", "vmmigrations"):
            shown[f"{kind} in {namespace}"] = plane.kubectl("get", kind, "-n", namespace, "-o", "json").stdout
    return shown


def leaks(texts: dict[str, str], values: list[str]) -> list[tuple[str, str]]:
    return [(where, value) for where, text in texts.items() for value in values if value in text]


# --- credentials only from a Secret, never shown --------------------------------------------------------


def test_credentials_come_from_the_secret_and_never_show(
    control_plane: ControlPlane,
    logs: Path,
    token_sim: SimProcess,
    token: str,
    namespaces: Callable[[], str],
    operators: list[OperatorProcess],
) -> None:
    bearer, basic = namespaces(), namespaces()
    # As `kubectl create secret generic --from-file=token` makes it: with the file's final newline.
    create_secret(control_plane, bearer, SECRET_NAME, token=token + "\n")
    create_secret(control_plane, basic, SECRET_NAME, username=USERNAME, password=PASSWORD)
    with_token = start_operator(
        operators, control_plane, token_sim.url, logs, bearer, "--credentials-secret", f"{bearer}/{SECRET_NAME}"
    )
    with_password = start_operator(
        operators, control_plane, token_sim.url, logs, basic, "--credentials-secret", f"{basic}/{SECRET_NAME}"
    )
    for process in (with_token, with_password):  # not on the command line, not in the environment
        assert process.process is not None
        command = " ".join(map(str, process.process.args))  # type: ignore[arg-type]
        assert token not in command and PASSWORD not in command

    kube = Kube(control_plane, bearer)
    ok, refused, busy = unique("cred-ok"), unique("cred-refused"), unique("cred-busy")
    kube.apply(manifest(ok))
    uuid_ = wait_ready(kube, ok)["status"]["uuid"]
    # Every refusal below quotes the request's headers, Authorization included (echo_headers).
    try:
        token_sim.faults(forced_scode={"unified_create": 10001}, echo_headers=True)  # the create refused
        kube.apply(manifest(refused))
        quoted = wait_error(kube, refused, 10001)
        assert "authorization: Bearer [REDACTED]" in quoted["desc"], quoted  # quoted, and redacted
        token_sim.faults(forced_scode={"start": 20926}, echo_headers=True)  # the start refused
        kube.apply(manifest(busy))
        wait_error(kube, busy, 20926)
    finally:
        token_sim.faults(echo_headers=True)
    wait_ready(kube, busy, timeout=60)
    kube.patch_spec("virtualmachine", ok, {"memory": "3Gi"})
    wait_for(lambda: token_sim.inspect(CLUSTER, TENANT, uuid_)["data"]["mem_size"] == 3 * GIB, what="resized")
    kube.delete("virtualmachine", ok)
    wait_for(lambda: kube.get("virtualmachine", ok) is None, timeout=40, what="deleted")
    assert token_sim.inspect(CLUSTER, TENANT, uuid_)["scode"] != 0

    # Username and password against a platform that wants a token: refused, and said so.
    refused_basic = unique("cred-basic")
    Kube(control_plane, basic).apply(manifest(refused_basic))
    error = wait_error(Kube(control_plane, basic), refused_basic, 10003)
    assert (error["message"], error["messageCn"]) == ("unauthorized", "未授权")
    assert "authorization: Basic [REDACTED]" in error["desc"], error
    token_sim.faults()

    texts = everything_shown(control_plane, [bearer, basic])
    texts |= {f"log of {p.log}": p.output() for p in (with_token, with_password)}
    texts["simulator log"] = token_sim.log.read_text()
    for process in (with_token, with_password):
        texts[f"metrics of {process.log}"] = httpx.get(f"http://127.0.0.1:{process.metrics_port}/metrics").text
    basic_header = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    values = [token, base64.b64encode(token.encode()).decode(), PASSWORD, basic_header]
    assert not leaks(texts, values), leaks(texts, values)
    # The grep would find them: the Secrets do hold them.
    stored = control_plane.kubectl("get", "secret", SECRET_NAME, "-n", bearer, "-o", "json").stdout
    assert base64.b64encode(token.encode()).decode() in stored
    assert "Warning" in texts[f"events in {bearer}"] and "10001" in texts[f"events in {bearer}"]


# --- TLS ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a serving cert for 127.0.0.1 signed by it (the dev PKI's openssl recipe)."""
    return make_pki(tmp_path_factory.mktemp("platform-pki"))


def test_tls_verified_by_default_custom_ca_and_insecure_skip_verify(
    control_plane: ControlPlane,
    logs: Path,
    pki: Pki,
    token: str,
    namespaces: Callable[[], str],
    operators: list[OperatorProcess],
) -> None:
    sim = SimProcess.start(logs, token=token, tls=pki)
    try:
        assert sim.url.startswith("https://")
        trusted, untrusted, insecure = namespaces(), namespaces(), namespaces()
        create_secret(control_plane, trusted, SECRET_NAME, token=token, **{"ca.crt": pki.ca_cert.read_text()})
        for namespace in (untrusted, insecure):
            create_secret(control_plane, namespace, SECRET_NAME, token=token)
        for namespace in (trusted, untrusted):
            start_operator(
                operators, control_plane, sim.url, logs, namespace, "--credentials-secret", f"{namespace}/{SECRET_NAME}"
            )
        skipping = start_operator(
            operators,
            control_plane,
            sim.url,
            logs,
            insecure,
            "--credentials-secret",
            f"{insecure}/{SECRET_NAME}",
            "--insecure-skip-verify",
        )
        names = {namespace: unique("tls") for namespace in (trusted, untrusted, insecure)}
        for namespace, name in names.items():
            Kube(control_plane, namespace).apply(manifest(name))

        # (a) the CA from the Secret: verified, and it works.
        vm = wait_ready(Kube(control_plane, trusted), names[trusted])
        assert sim.inspect(CLUSTER, TENANT, vm["status"]["uuid"])["data"]["state"] == "running"
        # (c) verification off: works, and the log says it is off.
        wait_ready(Kube(control_plane, insecure), names[insecure])
        assert "TLS verification of the compute API is disabled" in skipping.output()
        # (b) no CA: the system's roots do not know the test CA; status says why, in TLS terms.
        kube = Kube(control_plane, untrusted)

        def tls_refusal() -> dict[str, Any] | None:
            synced = condition(kube.get("virtualmachine", names[untrusted]), "Synced")
            return synced if synced and "TLS" in synced.get("message", "") else None

        synced = wait_for(tls_refusal, timeout=30, what="the TLS failure in status")
        assert (synced["status"], synced["reason"]) == ("False", "PlatformUnavailable")
        assert "TLS certificate verification failed" in synced["message"], synced
        assert "unable to get local issuer certificate" in synced["message"], synced
        assert "TLS certificate verification failed" in status(kube, names[untrusted])["lastError"]["message"]
        assert not sim.vms(CLUSTER, TENANT, filter_name=names[untrusted]), "nothing sent over an unverified link"
    finally:
        sim.stop()


# --- RBAC: the chart's role, as the operator's identity ------------------------------------------------


@pytest.fixture
def cluster_rbac(control_plane: ControlPlane) -> Iterator[list[str]]:
    """Cluster-scoped RBAC objects a test creates ("kind/name"); deleted afterwards."""
    created: list[str] = []
    yield created
    if created:
        control_plane.kubectl("delete", *created, "--ignore-not-found", check=False)


def test_operator_runs_under_the_charts_role_and_forbidden_fails_loudly(
    control_plane: ControlPlane,
    logs: Path,
    token_sim: SimProcess,
    token: str,
    namespaces: Callable[[], str],
    operators: list[OperatorProcess],
    cluster_rbac: list[str],
) -> None:
    namespace, other = namespaces(), namespaces()
    create_secret(control_plane, namespace, SECRET_NAME, token=token)
    rendered, kubeconfig = install_chart_rbac(control_plane, logs, namespace, cluster_rbac)
    assert sorted(o["kind"] for o in rendered) == sorted(RBAC_KINDS | ADMISSION_KINDS), "the chart's defaults"
    role = next(o for o in rendered if o["kind"] == "ClusterRole")

    operator = start_operator(
        operators,
        control_plane,
        token_sim.url,
        logs,
        namespace,
        "--kubeconfig",
        str(kubeconfig),
        "--credentials-secret",
        f"{namespace}/{SECRET_NAME}",
    )
    kube = Kube(control_plane, namespace)
    name = unique("rbac")
    kube.apply(manifest(name, shutdownTimeoutSeconds=5))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.patch_spec("virtualmachine", name, {"memory": "3Gi"})
    wait_for(lambda: token_sim.inspect(CLUSTER, TENANT, uuid_)["data"]["mem_size"] == 3 * GIB, what="resized")
    wait_ready(kube, name)
    # What was asked (the create, the resize) posts no Event; a rename behind vmop's back, set
    # back, does, with the role's rights to post it.
    assert not [e for e in kube.events(name) if e["type"] == "Normal"], kube.events(name)
    ident = {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid_}
    assert token_sim.call("meta/set", {**ident, "meta": {"compute_name": "renamed"}})["scode"] == 0
    kube.annotate("virtualmachine", name, **{"vmop.io/reconcile-request": "drift"})
    wait_for(lambda: token_sim.inspect(CLUSTER, TENANT, uuid_)["data"]["name"] == name, what="the name set back")
    events = wait_for(lambda: [e for e in kube.events(name) if e["reason"] == "MetaSet"], what="the Event")
    assert "meta/set (" in events[0]["message"], events
    assert all(f"{call} (" in operator.output() for call in ("unified_create", "start", "vmemory/set", "meta/set"))
    kube.delete("virtualmachine", name)
    wait_for(lambda: kube.get("virtualmachine", name) is None, timeout=40, what="deleted, finalizer released")
    assert token_sim.inspect(CLUSTER, TENANT, uuid_)["scode"] != 0
    assert "Forbidden" not in operator.output(), "the role lacks nothing vmop uses"

    # What the role does not grant is refused, loudly: other Secrets, deleting one, creating VMs.
    for args in (
        ("delete", "secret", SECRET_NAME, "-n", namespace),
        ("get", "secrets", "-n", namespace),
        ("create", "secret", "generic", "stolen", "-n", namespace),
    ):
        refused = as_identity(control_plane, kubeconfig, *args)
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), (args, refused.stderr)
    assert control_plane.kubectl("get", "secret", SECRET_NAME, "-n", namespace).returncode == 0

    # The chart's role without status patching: the operator says Forbidden, and status stays empty.
    reduced = json.loads(json.dumps(role))
    reduced["metadata"] = {"name": f"{role['metadata']['name']}-nostatus"}
    reduced["rules"] = [r for r in role["rules"] if not any(res.endswith("/status") for res in r["resources"])]
    assert len(reduced["rules"]) == len(role["rules"]) - 1
    limited = "nostatus"
    credentials_role = next(o for o in rendered if o["kind"] == "Role")["metadata"]["name"]
    extra_rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": limited, "namespace": namespace}},
        reduced,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": reduced["metadata"]["name"]},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": reduced["metadata"]["name"],
            },
            "subjects": [{"kind": "ServiceAccount", "name": limited, "namespace": namespace}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{limited}-credentials", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": credentials_role},
            "subjects": [{"kind": "ServiceAccount", "name": limited, "namespace": namespace}],
        },
    ]
    control_plane.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": extra_rbac})
    )
    cluster_rbac += [f"clusterrole/{reduced['metadata']['name']}", f"clusterrolebinding/{reduced['metadata']['name']}"]
    limited_token = control_plane.kubectl("create", "token", limited, "-n", namespace, "--duration=1h").stdout.strip()
    limited_config = kubeconfig_for(control_plane, logs / f"kubeconfig-{limited}", limited, limited_token)
    crippled = start_operator(
        operators,
        control_plane,
        token_sim.url,
        logs,
        other,
        "--kubeconfig",
        str(limited_config),
        "--credentials-secret",
        f"{namespace}/{SECRET_NAME}",
    )
    unseen = unique("nostatus")
    other_kube = Kube(control_plane, other)
    other_kube.apply(manifest(unseen))
    refusal = 'cannot patch resource "virtualmachines/status"'
    wait_for(lambda: refusal in crippled.output(), timeout=30, what="the Forbidden status patch in the log")
    assert any(" ERROR " in line and "403" in line for line in crippled.output().splitlines() if refusal in line)
    assert not status(other_kube, unseen).get("conditions"), "no status written without the right to"
    crippled.stop()  # nothing will release its finalizer now: the last resort, as documented
    control_plane.kubectl(
        "patch", "virtualmachine", unseen, "-n", other, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
    )


def test_operator_runs_under_the_charts_namespaced_role(
    control_plane: ControlPlane,
    logs: Path,
    token_sim: SimProcess,
    token: str,
    namespaces: Callable[[], str],
    operators: list[OperatorProcess],
    cluster_rbac: list[str],
) -> None:
    """The chart's namespaced mode: a Role in the watched namespace, nothing cluster-wide (not even
    listing namespaces, which kopf would otherwise retry for a minute before reconciling anything)."""
    namespace = namespaces()
    create_secret(control_plane, namespace, SECRET_NAME, token=token)
    rendered, kubeconfig = install_chart_rbac(
        control_plane, logs, namespace, cluster_rbac, f"watchNamespaces={{{namespace}}}"
    )
    assert not [o for o in rendered if o["kind"].startswith("Cluster")], "namespaced: no cluster-wide RBAC"
    started = time.monotonic()
    operator = start_operator(
        operators,
        control_plane,
        token_sim.url,
        logs,
        namespace,
        "--kubeconfig",
        str(kubeconfig),
        "--credentials-secret",
        f"{namespace}/{SECRET_NAME}",
    )
    kube = Kube(control_plane, namespace)
    name = unique("rbac-ns")
    kube.apply(manifest(name, shutdownTimeoutSeconds=5))
    uuid_ = wait_ready(kube, name, timeout=30)["status"]["uuid"]
    print(f"Ready {time.monotonic() - started:.1f}s after the operator started")
    kube.delete("virtualmachine", name)
    wait_for(lambda: kube.get("virtualmachine", name) is None, timeout=40, what="deleted, finalizer released")
    assert token_sim.inspect(CLUSTER, TENANT, uuid_)["scode"] != 0
    assert "may not list namespaces cluster-wide" in operator.output()
    assert "Forbidden" not in operator.output()


# --- the admission policy: no spec change by vmop's own identity ---------------------------------------


def test_admission_policy_refuses_spec_changes_by_the_operators_identity(
    control_plane: ControlPlane, logs: Path, namespaces: Callable[[], str], cluster_rbac: list[str]
) -> None:
    """RBAC lets vmop's ServiceAccount patch whole objects; the chart's ValidatingAdmissionPolicy
    refuses a spec change with its token, and nothing else: status, annotations and finalizers (what
    vmop writes) pass, and so does the admin's spec change."""
    namespace = namespaces()
    rendered, kubeconfig = install_chart_rbac(control_plane, logs, namespace, cluster_rbac)
    policy = next(o for o in rendered if o["kind"] == "ValidatingAdmissionPolicy")
    policy_name = policy["metadata"]["name"]
    rule = policy["spec"]["validations"][0]  # the spec rule (the others: ownerReferences, VmPool VMs)
    kube = Kube(control_plane, namespace)
    name = unique("vap")
    kube.apply(manifest(name))  # by the admin; no operator runs, so no finalizer either

    def patch(body: dict[str, Any], *flags: str) -> subprocess.CompletedProcess[str]:
        """A merge patch of the VirtualMachine with the operator's token."""
        args = ("patch", "virtualmachine", name, "-n", namespace, "--type=merge", "-p", json.dumps(body), *flags)
        return as_identity(control_plane, kubeconfig, *args)

    def refused(done: subprocess.CompletedProcess[str]) -> bool:
        return done.returncode != 0 and rule["message"] in done.stderr

    resize = {"spec": {"memory": "3Gi"}}

    # The apiserver enforces a new policy once it has loaded it: ask with dry runs until it does.
    def refused_dry_run() -> subprocess.CompletedProcess[str] | None:
        done = patch(resize, "--dry-run=server")
        return done if refused(done) else None

    first = wait_for(refused_dry_run, timeout=30, interval=0.5, what="the policy enforced")
    assert f"ValidatingAdmissionPolicy '{policy_name}' with binding '{policy_name}' denied request" in first.stderr
    assert "is forbidden" in first.stderr, first.stderr

    spec_change = patch(resize)
    assert refused(spec_change), spec_change.stderr
    smuggled = patch({"metadata": {"annotations": {"example.com/with-spec": "x"}}, **resize})
    assert refused(smuggled), "a spec change refuses the whole patch"

    # What vmop writes, with the same token, through vmop's own client: status, annotations and
    # finalizers (kubectl would read /status first, which the role does not grant).
    async def write_as_vmop() -> None:
        access = await KubeAccess.connect(str(kubeconfig), WriteLimiter(50, 10), connections=2)
        try:
            # aiohttp's HTTP/1.1 (controller/kube.py), with a role that grants no more.
            server = await access.server()
            assert server.startswith("Kubernetes v1.") and server.endswith(" over HTTP/1.1"), server
            await access.patch_status("virtualmachines", namespace, name, {"phase": "Pending", "observedGeneration": 1})
            await access.patch_metadata("virtualmachines", namespace, name, annotations={"example.com/probe": "yes"})
            for finalizers in ([FINALIZER], []):
                await access.patch_metadata("virtualmachines", namespace, name, finalizers=finalizers)
        finally:
            await access.close()

    asyncio.run(write_as_vmop())
    found = kube.get("virtualmachine", name)
    assert found is not None
    assert found["status"]["phase"] == "Pending"
    assert found["metadata"]["annotations"]["example.com/probe"] == "yes"
    assert "example.com/with-spec" not in found["metadata"]["annotations"], "nothing of the refused patch"
    assert "finalizers" not in found["metadata"]
    assert found["spec"]["memory"] == "2Gi"

    # Anyone else may change spec.
    kube.patch_spec("virtualmachine", name, {"memory": "3Gi"})
    assert (kube.get("virtualmachine", name) or {})["spec"]["memory"] == "3Gi"
