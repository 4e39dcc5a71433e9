"""charts/vmop: rendered with the cached helm (no cluster), then installed, upgraded and uninstalled
on the real control plane. No container runtime runs the image, so the tests assert on the
objects and on what the ServiceAccount may do, never on a running pod."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.deploy import (
    CHART,
    CHART_CRDS,
    CI_VALUES,
    COMPUTE_URL,
    CRDS,
    REPO,
    Manifest,
    by_kind,
    container,
    documents,
    helm_args,
    one,
    render_objects,
    run_tool,
)
from tests.unit.test_dashboard import exported_names as exported_metric_names

from vmop.cli import build_parser
from vmop.config import config_from_arguments
from vmop.dev.binaries import ensure_promtool
from vmop.dev.controlplane import ControlPlane

VM_CRD = "virtualmachines.vmop.io"
ALERT_TESTS = REPO / "tests" / "fixtures" / "prometheus" / "alerts.test.yaml"
ALLOWED_VERBS = {"get", "list", "watch", "patch", "create", "delete", "update"}


def args_of(objects: list[Manifest]) -> list[str]:
    args = container(objects)["args"]
    assert isinstance(args, list)
    return args


def rules(objects: list[Manifest], kind: str) -> list[dict[str, Any]]:
    return [rule for role in by_kind(objects, kind) for rule in role["rules"]]


def grants(objects: list[Manifest], kind: str, group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in rules(objects, kind)
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


# --- lint and render (helm only) ---------------------------------------------------------------------


def test_lint_without_values() -> None:
    """Plain `helm lint` passes: the missing compute.url is reported, not fatal."""
    linted = run_tool("helm", "lint", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout


@pytest.mark.parametrize("values", sorted(CI_VALUES.glob("*.yaml")), ids=lambda p: p.stem)
def test_lint_strict_with_ci_values(values: Path) -> None:
    run_tool("helm", "lint", str(CHART), "--strict", "--values", str(values))


def test_defaults_render_a_cluster_wide_operator() -> None:
    objects = render_objects()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    assert args_of(objects) == [
        f"--compute-url={COMPUTE_URL}",
        "--resync-seconds=60",
        "--max-concurrency=16",
        "--page-size=500",
        "--default-deletion-policy=Delete",
        "--liveness-port=8080",
        "--metrics-port=8081",
        "--log-level=INFO",
        "--log-format=text",
        "--compute-timeout=60",
        "--duplicate-guard-seconds=3600",
    ]
    operator = container(objects)
    assert operator["command"] == ["vmop", "run"]
    assert operator["image"] == "ghcr.io/vmop/vmop:0.1.0"
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}, "standalone: never two operators at once"
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"] == "vmop-vmop-system"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "vmop", "namespace": "vmop-system"}]


def test_probes_use_kopfs_liveness_endpoint() -> None:
    operator = container(render_objects("livenessPort=9090"))
    assert operator["ports"] == [
        {"name": "liveness", "containerPort": 9090, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8081, "protocol": "TCP"},
    ]
    assert "--liveness-port=9090" in operator["args"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "liveness"}


def test_security_context_is_restricted() -> None:
    objects = render_objects()
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(objects)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # The one writable path: where vmop writes the platform's ca.crt.
    assert container(objects)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]


def test_every_flag_comes_from_values() -> None:
    objects = render_objects(
        "compute.insecureSkipVerify=true",
        "resyncSeconds=45",
        "maxConcurrency=4",
        "pageSize=100",
        "defaultDeletionPolicy=Retain",
        "logLevel=DEBUG",
        "logFormat=json",
        "computeTimeoutSeconds=20",
        "createGraceSeconds=90",
        "duplicateGuardSeconds=0",
        "credentials.existingSecret=platform",
        "watchNamespaces={team-a,team-b}",
    )
    assert args_of(objects) == [
        f"--compute-url={COMPUTE_URL}",
        "--credentials-secret=vmop-system/platform",
        "--insecure-skip-verify",
        "--namespace=team-a",
        "--namespace=team-b",
        "--resync-seconds=45",
        "--max-concurrency=4",
        "--page-size=100",
        "--default-deletion-policy=Retain",
        "--liveness-port=8080",
        "--metrics-port=8081",
        "--log-level=DEBUG",
        "--log-format=json",
        "--compute-timeout=20",
        "--create-grace-seconds=90",
        "--duplicate-guard-seconds=0",
    ]


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["credentials.token=t", "watchNamespaces={team-a,team-b}", "peering.enabled=true", "logFormat=json"],
        ["compute.insecureSkipVerify=true", "defaultDeletionPolicy=Retain", "livenessPort=9000", "logLevel=ERROR"],
        ["shards=3", "watchNamespaces={team-a}"],
    ],
    ids=["defaults", "namespaced-peering", "flags", "sharded"],
)
def test_vmop_run_accepts_the_rendered_command(values: list[str]) -> None:
    """The chart and `vmop run` agree on every flag: the rendered command parses."""
    objects = render_objects(*values)
    operator = container(objects)
    assert operator["command"][0] == "vmop"
    sharded = "shards=3" in values
    if sharded:  # the StatefulSet gives each pod its ordinal as VMOP_SHARD_INDEX
        (index,) = [env for env in operator["env"] if env["name"] == "VMOP_SHARD_INDEX"]
        assert index["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
        os.environ["VMOP_SHARD_INDEX"] = "2"
    try:
        config = config_from_arguments(build_parser().parse_args([*operator["command"][1:], *operator["args"]]))
    finally:
        os.environ.pop("VMOP_SHARD_INDEX", None)
    assert (config.shards, config.shard_index, config.lease_name) == ((3, 2, "vmop") if sharded else (1, 0, None))
    assert config.compute_url == COMPUTE_URL
    assert config.namespaces == [a.split("=", 1)[1] for a in operator["args"] if a.startswith("--namespace=")]
    assert config.liveness_port == operator["ports"][0]["containerPort"]
    assert (config.peering is not None) == ("peering.enabled=true" in values)


def test_scheduling_and_resources_pass_through(tmp_path: Path) -> None:
    values = {
        "compute": {"url": COMPUTE_URL},
        "nodeSelector": {"node-role.kubernetes.io/infra": ""},
        "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/team": "platform"},
        "podLabels": {"team": "platform"},
        "image": {"repository": "registry.example.com/vmop", "digest": "sha256:" + "a" * 64},
        "imagePullSecrets": [{"name": "registry"}],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    objects = documents(run_tool("helm", "template", *helm_args(), "--values", str(tmp_path / "values.yaml")).stdout)
    pod = one(objects, "Deployment")["spec"]["template"]
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"):
        assert pod["spec"][key] == values[key]
    assert pod["metadata"]["annotations"] == values["podAnnotations"]
    assert pod["metadata"]["labels"]["team"] == "platform"
    operator = container(objects)
    assert operator["resources"] == values["resources"]
    assert operator["image"] == "registry.example.com/vmop@sha256:" + "a" * 64
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in operator["env"]
    assert operator["env"][0]["name"] == "POD_ID", "kopf's peer identity: the pod name"


def test_credentials_from_values_create_a_secret_and_restart_on_change() -> None:
    objects = render_objects("credentials.token=t0ken", "credentials.caCrt=-----BEGIN CERTIFICATE-----\nMIIB")
    secret = one(objects, "Secret")
    assert secret["metadata"]["name"] == "vmop-credentials"
    assert secret["stringData"] == {"token": "t0ken", "ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB"}
    assert "--credentials-secret=vmop-system/vmop-credentials" in args_of(objects)
    role = one(objects, "Role", "vmop-credentials")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["vmop-credentials"], "verbs": ["get"]}
    ]
    checksum = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/credentials"]
    changed = render_objects("credentials.token=an0ther")
    assert one(changed, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/credentials"] != checksum

    basic = one(render_objects("credentials.username=admin", "credentials.password=pw"), "Secret")
    assert basic["stringData"] == {"username": "admin", "password": "pw"}


def test_existing_secret_is_referenced_not_created() -> None:
    objects = render_objects("credentials.existingSecret=platform-credentials")
    assert not by_kind(objects, "Secret")
    assert "--credentials-secret=vmop-system/platform-credentials" in args_of(objects)
    assert one(objects, "Role")["rules"][0]["resourceNames"] == ["platform-credentials"]


def test_no_credentials_no_secret_access() -> None:
    """Without credentials and with VMs' Secrets off, vmop may read no Secret at all; with them on
    (the default), only get them, never list or watch."""
    objects = render_objects("rbac.vmSecrets.enabled=false")
    assert not any("--credentials-secret" in arg for arg in args_of(objects))
    assert not grants(objects, "ClusterRole", "", "secrets")
    assert not by_kind(objects, "Role")
    assert grants(render_objects(), "ClusterRole", "", "secrets") == {"get"}


def test_namespaced_mode_renders_roles_not_cluster_roles() -> None:
    objects = render_objects("watchNamespaces={team-a,team-b}")
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objects, "Role")}
    assert sorted(roles) == ["team-a", "team-b"]
    for namespace, role in roles.items():
        namespaces_rule = [r for r in role["rules"] if "namespaces" in r["resources"]]
        assert namespaces_rule == [
            {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [namespace], "verbs": ["get"]}
        ], "only its own namespace's annotations"
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(objects, "RoleBinding")}
    assert sorted(bindings) == ["team-a", "team-b"]
    assert all(b["subjects"][0]["namespace"] == "vmop-system" for b in bindings.values())


def test_namespaced_mode_cluster_observation_is_read_only() -> None:
    objects = render_objects("watchNamespaces={team-a}", "rbac.clusterObservation=true")
    (role,) = by_kind(objects, "ClusterRole")
    assert role["rules"] == [
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]


def test_rbac_is_least_privilege() -> None:
    for values in ([], ["watchNamespaces={team-a}", "credentials.token=t", "peering.enabled=true"]):
        objects = render_objects(*values)
        for kind in ("ClusterRole", "Role"):
            for rule in rules(objects, kind):
                assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
                assert set(rule["verbs"]) <= ALLOWED_VERBS, rule
                if "secrets" in rule["resources"]:
                    assert rule["verbs"] == ["get"], "Secrets are read by name, never listed or watched"
        vm_verbs = grants(objects, "ClusterRole", "vmop.io", "virtualmachines") | grants(
            objects, "Role", "vmop.io", "virtualmachines"
        )
        # create and delete: a VmPool's VirtualMachines only (the admission policy); never update
        assert vm_verbs == {"get", "list", "watch", "patch", "create", "delete"}
        for plural in ("vmgroups", "vmmigrations", "vmpools"):
            verbs = grants(objects, "ClusterRole", "vmop.io", plural) | grants(objects, "Role", "vmop.io", plural)
            assert verbs == {"get", "list", "watch", "patch"}, plural
        finalizers = grants(objects, "ClusterRole", "vmop.io", "vmpools/finalizers") | grants(
            objects, "Role", "vmop.io", "vmpools/finalizers"
        )
        assert finalizers == {"update"}, "blockOwnerDeletion on a pool's VMs, nothing else"
    cluster = render_objects()
    for plural in ("virtualmachines", "vmgroups", "vmmigrations", "vmpools"):
        assert grants(cluster, "ClusterRole", "vmop.io", f"{plural}/status") == {"patch"}
    assert grants(cluster, "ClusterRole", "", "events") == {"create"}
    assert grants(cluster, "ClusterRole", "events.k8s.io", "events") == {"create"}
    assert grants(cluster, "ClusterRole", "", "namespaces") == {"get"}
    assert grants(cluster, "ClusterRole", "apiextensions.k8s.io", "customresourcedefinitions") == {"list", "watch"}
    assert not grants(cluster, "ClusterRole", "kopf.dev", "clusterkopfpeerings"), "no peering, no peering rights"


def test_compute_providers_are_off_by_default_and_grant_nothing() -> None:
    for values in ([], ["watchNamespaces={team-a}"]):
        objects = render_objects(*values)
        assert not any(arg.startswith(("--compute-providers", "--provider-secrets")) for arg in args_of(objects))
        for kind in ("ClusterRole", "Role"):
            assert not grants(objects, kind, "vmop.io", "computeproviders"), kind
        policy = one(objects, "ValidatingAdmissionPolicy")
        assert all(
            "computeproviders" not in r["resources"] for r in policy["spec"]["matchConstraints"]["resourceRules"]
        )


@pytest.mark.parametrize("mode", [[], ["watchNamespaces={team-a,team-b}"]], ids=["cluster", "namespaced"])
def test_compute_providers_grant_least_privilege(mode: list[str]) -> None:
    """On: a ClusterRole for the cluster-scoped kind only (also in namespaced mode), and get on Secrets
    in the provider secrets namespace only (the release's by default, or the one given, by name if
    given). Namespace labels (allowedNamespaces' selector) are read with the get on namespaces the
    chart grants anyway: no list or watch of namespaces is added."""
    objects = render_objects(*mode, "computeProviders.enabled=true")
    (providers,) = [r for r in by_kind(objects, "ClusterRole") if r["metadata"]["name"].endswith("-providers")]
    assert providers["rules"] == [
        {"apiGroups": ["vmop.io"], "resources": ["computeproviders"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["vmop.io"], "resources": ["computeproviders/status"], "verbs": ["patch"]},
    ]
    binding = next(
        b for b in by_kind(objects, "ClusterRoleBinding") if b["roleRef"]["name"] == providers["metadata"]["name"]
    )
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "vmop", "namespace": "vmop-system"}]
    (secrets_role,) = [r for r in by_kind(objects, "Role") if r["metadata"]["name"].endswith("-provider-secrets")]
    assert secrets_role["metadata"]["namespace"] == "vmop-system"
    assert secrets_role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert "--compute-providers" in args_of(objects)
    assert "--provider-secrets-namespace=vmop-system" in args_of(objects)
    assert grants(objects, "ClusterRole", "", "namespaces") | grants(objects, "Role", "", "namespaces") == {"get"}
    policy = one(objects, "ValidatingAdmissionPolicy")
    assert {
        "apiGroups": ["vmop.io"],
        "apiVersions": ["*"],
        "resources": ["computeproviders"],
        "operations": ["UPDATE"],
        "scope": "Cluster",
    } in policy["spec"]["matchConstraints"]["resourceRules"]

    elsewhere = render_objects(
        *mode,
        "computeProviders.enabled=true",
        "computeProviders.secretsNamespace=hci-secrets",
        "computeProviders.secretNames={hci-a,hci-b}",
    )
    (secrets_role,) = [r for r in by_kind(elsewhere, "Role") if r["metadata"]["name"].endswith("-provider-secrets")]
    assert secrets_role["metadata"]["namespace"] == "hci-secrets"
    assert secrets_role["rules"][0]["resourceNames"] == ["hci-a", "hci-b"]
    assert "--provider-secrets-namespace=hci-secrets" in args_of(elsewhere)
    config = config_from_arguments(
        build_parser().parse_args([*container(elsewhere)["command"][1:], *args_of(elsewhere)])
    )
    assert config.compute_providers and config.provider_secrets_namespace == "hci-secrets"


def test_admission_policy_refuses_spec_changes_by_vmops_service_account() -> None:
    """RBAC's `patch` covers spec too: the policy refuses an UPDATE by vmop's own ServiceAccount that
    changes spec, for the three kinds, in either mode; admissionPolicy.enabled=false leaves it out."""
    for values, namespace, account in (
        ([], "vmop-system", "vmop"),
        (["watchNamespaces={team-a}", "serviceAccount.create=false", "serviceAccount.name=ops"], "platform", "ops"),
    ):
        objects = render_objects(*values, namespace=namespace)
        policy = one(objects, "ValidatingAdmissionPolicy")
        name = policy["metadata"]["name"]
        assert name == f"vmop-{namespace}-no-spec-writes", "cluster-scoped: named after the release namespace"
        assert policy["spec"]["matchConstraints"]["resourceRules"] == [
            {
                "apiGroups": ["vmop.io"],
                "apiVersions": ["*"],
                "resources": ["virtualmachines", "vmgroups", "vmmigrations", "vmpools"],
                "operations": ["UPDATE"],
                "scope": "Namespaced",
            },
            {
                "apiGroups": ["vmop.io"],
                "apiVersions": ["*"],
                "resources": ["virtualmachines"],
                "operations": ["CREATE", "DELETE"],
                "scope": "Namespaced",
            },
        ]
        assert policy["spec"]["matchConditions"] == [
            {
                "name": "vmop-service-account",
                "expression": f'request.userInfo.username == "system:serviceaccount:{namespace}:{account}"',
            }
        ]
        spec_rule, owners_rule, pooled_rule = policy["spec"]["validations"]
        assert "object.spec == oldObject.spec || variables.pooled" in spec_rule["expression"]
        assert spec_rule["message"].startswith("vmop's ServiceAccount may not change spec")
        assert "ownerReferences" in owners_rule["expression"] and "ownerReferences" in owners_rule["message"]
        assert pooled_rule["expression"] == "request.operation == 'UPDATE' || variables.pooled"
        assert "r.kind == 'VmPool'" in policy["spec"]["variables"][1]["expression"]
        assert policy["spec"]["failurePolicy"] == "Fail"
        binding = one(objects, "ValidatingAdmissionPolicyBinding")
        assert binding["metadata"]["name"] == name
        assert binding["spec"] == {"policyName": name, "validationActions": ["Deny"]}
    disabled = render_objects("admissionPolicy.enabled=false")
    assert not [o for o in disabled if o["kind"].startswith("ValidatingAdmissionPolicy")]


def peering_writes(objects: list[Manifest], kind: str, resource: str) -> list[dict[str, Any]]:
    """The rules that let the operator read or write single peering objects."""
    return [
        rule for rule in rules(objects, kind) if resource in rule["resources"] and {"get", "patch"} & set(rule["verbs"])
    ]


def test_peering_cluster_wide() -> None:
    objects = render_objects("peering.enabled=true")
    assert "--peering=vmop" in args_of(objects)
    assert one(objects, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate", "peering pauses the new pod"
    assert one(objects, "ClusterKopfPeering")["metadata"]["name"] == "vmop"
    verbs = grants(objects, "ClusterRole", "kopf.dev", "clusterkopfpeerings")
    assert verbs == {"get", "list", "watch", "patch"}
    (writes,) = peering_writes(objects, "ClusterRole", "clusterkopfpeerings")
    assert writes["resourceNames"] == ["vmop"], "only this release's peering object"


def test_peering_namespaced() -> None:
    objects = render_objects("peering.enabled=true", "peering.name=vmop-tenant", "watchNamespaces={team-a,team-b}")
    assert "--peering=vmop-tenant" in args_of(objects)
    peerings = by_kind(objects, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert {p["metadata"]["name"] for p in peerings} == {"vmop-tenant"}
    assert grants(objects, "Role", "kopf.dev", "kopfpeerings") == {"get", "list", "watch", "patch"}
    writes = peering_writes(objects, "Role", "kopfpeerings")
    assert [w["resourceNames"] for w in writes] == [["vmop-tenant"], ["vmop-tenant"]], "one Role per namespace"


def test_shards_run_a_statefulset_with_one_lease_per_shard() -> None:
    objects = render_objects("shards=3", "leaseDurationSeconds=10")
    assert not by_kind(objects, "Deployment")
    statefulset = one(objects, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 3 and statefulset["spec"]["podManagementPolicy"] == "Parallel"
    service = one(objects, "Service", name=statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert {"--shards=3", "--lease=vmop", "--lease-duration=10"} <= set(args_of(objects))
    assert not any(a.startswith("--peering") for a in args_of(objects))
    (names,) = [r for r in rules(objects, "Role") if r.get("resourceNames") and "leases" in r["resources"]]
    assert names["resourceNames"] == ["vmop-0", "vmop-1", "vmop-2"] and names["verbs"] == ["get", "update"]
    assert grants(objects, "Role", "coordination.k8s.io", "leases") == {"get", "update", "list", "create"}
    assert not grants(render_objects(), "Role", "coordination.k8s.io", "leases"), "one pod: no Lease"
    assert one(render_objects(), "Deployment")["spec"]["replicas"] == 1


def test_pod_disruption_budget_is_optional() -> None:
    assert not by_kind(render_objects(), "PodDisruptionBudget")
    pdb = one(render_objects("podDisruptionBudget.enabled=true"), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "vmop",
        "app.kubernetes.io/instance": "vmop",
    }
    strict = one(
        render_objects(
            "podDisruptionBudget.enabled=true",
            "podDisruptionBudget.minAvailable=1",
            "podDisruptionBudget.maxUnavailable=null",
        ),
        "PodDisruptionBudget",
    )
    assert strict["spec"] == {"minAvailable": 1, "selector": pdb["spec"]["selector"]}


def test_crds_install_templates_the_crds_files() -> None:
    assert not by_kind(render_objects(), "CustomResourceDefinition"), "by default Helm's crds/ folder installs them"
    templated = {
        o["metadata"]["name"]: o for o in by_kind(render_objects("crds.install=true"), "CustomResourceDefinition")
    }
    shipped = {}
    for path in sorted(CHART_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        shipped[crd["metadata"]["name"]] = crd
    assert sorted(templated) == sorted(shipped)
    for name, crd in templated.items():
        assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}, "uninstall keeps them"
        assert crd == shipped[name], f"{name}: the template must render the crds/ file unchanged"
    unkept = by_kind(render_objects("crds.install=true", "crds.keep=false"), "CustomResourceDefinition")
    assert all("annotations" not in crd["metadata"] for crd in unkept)


BAD_VALUES = [
    ([], "compute.url is required"),
    (["compute.url=hci.example.com"], "at '/compute/url'"),
    (["logFormat=yaml"], "at '/logFormat': value must be one of 'text', 'json'"),
    (["logLevel=TRACE"], "at '/logLevel': value must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
    (["defaultDeletionPolicy=delete"], "at '/defaultDeletionPolicy': value must be one of 'Delete', 'Retain'"),
    (["replicas=2"], "at '/replicas'"),
    (["resyncSeconds=0"], "at '/resyncSeconds'"),
    (["maxConcurrency=0"], "at '/maxConcurrency'"),
    (["watchNamespaces={team-*}"], "at '/watchNamespaces/0'"),
    (["logLevl=DEBUG"], "additional properties 'logLevl' not allowed"),
    (["crds.instal=true"], "at '/crds': additional properties 'instal' not allowed"),
    (["image.pullPolicy=Sometimes"], "at '/image/pullPolicy'"),
    (["livenessPort=80"], "at '/livenessPort'"),
    (["peering.enabled=yes"], "at '/peering/enabled'"),
    (
        ["credentials.token=t", "credentials.username=u", "credentials.password=p"],
        "set token, or username and password",
    ),
    (["credentials.existingSecret=s", "credentials.token=t"], "set either existingSecret or token"),
    (["credentials.username=u"], "username and password go together"),
    (["credentials.caCrt=-----BEGIN CERTIFICATE-----"], "caCrt alone makes no credentials"),
    (["podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=1"], "minAvailable or maxUnavailable"),
    (["serviceAccount.create=false"], "serviceAccount.name is required"),
    (
        ["metrics.service.enabled=false", "metrics.serviceMonitor.enabled=true"],
        "serviceMonitor.enabled needs service.enabled",
    ),
    (["metrics.prometheusRule.enabled=true"], "prometheusRule.enabled needs serviceMonitor.enabled"),
    (["metrics.prometheusRule.notReadyFor=soon"], "at '/metrics/prometheusRule/notReadyFor'"),
    (["networkPolicy.enabled=yes"], "at '/networkPolicy/enabled'"),
    (["admissionPolicy.enabled=yes"], "at '/admissionPolicy/enabled'"),
    (["admissionPolicy.enable=false"], "at '/admissionPolicy': additional properties 'enable' not allowed"),
]
# Rules across values: reported by templates/validate.yaml (the checks are in _validate.tpl), not
# by whichever object's template happened to render first.
CROSS_FIELD = [
    ["credentials.username=u"],
    ["shards=2", "peering.enabled=true"],
    ["shards=2", "replicas=0"],
    ["podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=1"],
    ["metrics.service.enabled=false", "metrics.serviceMonitor.enabled=true"],
]


@pytest.mark.parametrize(("values", "message"), BAD_VALUES, ids=[m for _, m in BAD_VALUES])
def test_bad_values_fail_with_a_clear_message(values: list[str], message: str) -> None:
    url = [] if values == [] or values[0].startswith("compute.url") else [f"compute.url={COMPUTE_URL}"]
    failed = run_tool("helm", "template", *helm_args(values=[*url, *values]), check=False)
    assert failed.returncode != 0, f"{values} rendered"
    assert message in failed.stderr, failed.stderr


@pytest.mark.parametrize("values", CROSS_FIELD, ids=lambda v: v[-1])
def test_cross_field_errors_are_reported_by_the_validation_template(values: list[str]) -> None:
    failed = run_tool("helm", "template", *helm_args(values=[f"compute.url={COMPUTE_URL}", *values]), check=False)
    assert failed.returncode != 0 and "execution error at (vmop/templates/validate.yaml:" in failed.stderr, (
        failed.stderr
    )


def test_network_policy_is_optional() -> None:
    assert not by_kind(render_objects(), "NetworkPolicy")
    policy = one(render_objects("networkPolicy.enabled=true"), "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "vmop",
        "app.kubernetes.io/instance": "vmop",
    }
    assert policy["policyTypes"] == ["Ingress"], "egress is not restricted unless listed"
    assert policy["ingress"] == [
        {"ports": [{"port": "liveness", "protocol": "TCP"}]},
        {"ports": [{"port": "metrics", "protocol": "TCP"}]},
    ]
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    values = yaml.safe_load((CI_VALUES / "namespaced-values.yaml").read_text())
    assert values["networkPolicy"]["metricsFrom"] == [prometheus]
    limited = one(render_objects(extra=["--values", str(CI_VALUES / "namespaced-values.yaml")]), "NetworkPolicy")
    assert limited["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert limited["spec"]["ingress"][1]["from"] == [prometheus]
    dns, apiserver = limited["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert apiserver == {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}


def rule_groups(*values: str) -> list[dict[str, Any]]:
    """The groups of the chart's PrometheusRule, as a Prometheus rule file has them."""
    sets = ("metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true", *values)
    rule = one(render_objects(*sets), "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def test_alert_rules_are_optional_and_cover_what_needs_a_person() -> None:
    assert not by_kind(render_objects("metrics.serviceMonitor.enabled=true"), "PrometheusRule")
    rules = {r["alert"]: r for group in rule_groups() for r in group["rules"]}
    assert sorted(rules) == [
        "VmopCreateHeldBack",
        "VmopDuplicateGuard",
        "VmopMigrationsPending",
        "VmopObjectsNotReady",
        "VmopPlatformErrors",
        "VmopPlatformUnreachable",
    ]
    assert "by (namespace, endpoint, scode)" in rules["VmopPlatformErrors"]["expr"]
    assert "vmop_creates_total" in rules["VmopDuplicateGuard"]["expr"]
    assert all('job="vmop-metrics"' in r["expr"] for r in rules.values()), "the ServiceMonitor's series only"
    assert rules["VmopObjectsNotReady"]["for"] == "30m"
    later = {r["alert"]: r for group in rule_groups("metrics.prometheusRule.notReadyFor=2h") for r in group["rules"]}
    assert later["VmopObjectsNotReady"]["for"] == "2h"


def test_alert_rules_use_metrics_vmop_exports() -> None:
    used = {
        name for group in rule_groups() for r in group["rules"] for name in re.findall(r"\b(vmop_[a-z_]+)", r["expr"])
    }
    assert used <= exported_metric_names(), used - exported_metric_names()


def test_alert_rules_load_in_promtool(tmp_path: Path) -> None:
    """promtool, built from Prometheus' Go module (vmop.dev.binaries), checks the rules as
    Prometheus loads them, and its rule tests show each alert fires on the series it is for."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}))
    promtool = str(ensure_promtool())
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, checked.stdout + checked.stderr
    tests = tmp_path / "tests.yaml"
    tests.write_text(ALERT_TESTS.read_text().replace("RULES", str(rules)))
    tested = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- against the control plane -------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def namespaces(control_plane: ControlPlane) -> Iterator[list[str]]:
    """Namespaces a test creates (append to the list); deleted afterwards, without waiting."""
    created: list[str] = []
    yield created
    for namespace in created:
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def releases(control_plane: ControlPlane) -> Iterator[list[tuple[str, str]]]:
    """(release, namespace) a test installs; uninstalled afterwards if still there."""
    installed: list[tuple[str, str]] = []
    yield installed
    for release, namespace in installed:
        control_plane.helm("uninstall", release, "--namespace", namespace, "--ignore-not-found", check=False)


def create_namespace(plane: ControlPlane, namespaces: list[str], name: str) -> str:
    plane.kubectl("create", "namespace", name)
    namespaces.append(name)
    return name


def as_sa(namespace: str, name: str) -> str:
    return f"--as=system:serviceaccount:{namespace}:{name}"


def can(plane: ControlPlane, sa: str, *request: str) -> bool:
    answer = plane.kubectl("auth", "can-i", *request, sa, check=False)
    return answer.stdout.strip() == "yes"


def virtual_machine(name: str, namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "vmop.io/v1alpha1",
            "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "cluster": "7f3c1d2e-0000-4a6b-9c1d-000000000001",
                "tenant": "7f3c1d2e-0000-4a6b-9c1d-0000000000aa",
                "deletionPolicy": "Retain",
                "disks": [{"name": "root", "size": "10Gi", "pool": "9a8b7c6d-0000-4000-8000-000000000001"}],
            },
        }
    )


@pytest.mark.integration
@pytest.mark.parametrize("values", sorted(CI_VALUES.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("crds", ["crds-folder", "crds-install"])
def test_template_accepted_by_server_dry_run(
    control_plane: ControlPlane, namespaces: list[str], values: Path, crds: str
) -> None:
    namespace = create_namespace(control_plane, namespaces, unique("vmop-dry"))
    # The ci values' watched namespaces, made unique to this test and created for real.
    watched = [f"{name}-{namespace}" for name in yaml.safe_load(values.read_text()).get("watchNamespaces", [])]
    for name in watched:
        create_namespace(control_plane, namespaces, name)
    sets = [f"watchNamespaces={{{','.join(watched)}}}"] if watched else []
    if crds == "crds-install":
        sets.append("crds.install=true")
    rendered = control_plane.helm(
        "template", *helm_args(release="dry", namespace=namespace, values=sets), "--values", str(values)
    ).stdout
    applied = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    workload = "statefulset" if yaml.safe_load(values.read_text()).get("shards", 1) > 1 else "deployment"
    assert f"{workload}.apps/dry-vmop created (server dry run)" in applied.stdout
    assert len(applied.stdout.splitlines()) == len(documents(rendered)), "every object accepted"


@pytest.mark.integration
def test_install_upgrade_and_least_privilege(
    control_plane: ControlPlane, namespaces: list[str], releases: list[tuple[str, str]]
) -> None:
    namespace = create_namespace(control_plane, namespaces, unique("vmop-helm"))
    release = "ops"
    control_plane.helm(
        "install",
        *helm_args(
            release=release, namespace=namespace, values=[f"compute.url={COMPUTE_URL}", "credentials.token=t0ken"]
        ),
    )
    releases.append((release, namespace))
    fullname, cluster_name = "ops-vmop", f"ops-vmop-{namespace}"

    def get(*what: str) -> Manifest:
        found = json.loads(control_plane.kubectl("get", *what, "-o", "json").stdout)
        assert isinstance(found, dict)
        return found

    deployment = get("deployment", fullname, "-n", namespace)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == fullname
    get("serviceaccount", fullname, "-n", namespace)
    assert get("secret", f"{fullname}-credentials", "-n", namespace)["type"] == "Opaque"
    get("role", f"{fullname}-credentials", "-n", namespace)
    get("rolebinding", f"{fullname}-credentials", "-n", namespace)
    get("clusterrole", cluster_name)
    get("clusterrolebinding", cluster_name)
    get("validatingadmissionpolicy", f"{cluster_name}-no-spec-writes")
    get("validatingadmissionpolicybinding", f"{cluster_name}-no-spec-writes")

    # What the ServiceAccount may do, as the apiserver's RBAC decides it.
    sa = as_sa(namespace, fullname)
    assert can(control_plane, sa, "watch", "virtualmachines.vmop.io", "--all-namespaces")
    assert can(control_plane, sa, "patch", "virtualmachines.vmop.io/status", "-n", "default")
    assert can(control_plane, sa, "create", "events", "-n", "default")
    assert can(control_plane, sa, "get", f"secret/{fullname}-credentials", "-n", namespace)
    # The Secrets VirtualMachines name (cloud-init, console passwords): get by name, never list or watch.
    assert can(control_plane, sa, "get", "secret/other", "-n", namespace)
    assert not can(control_plane, sa, "list", "secrets", "-n", namespace)
    assert not can(control_plane, sa, "watch", "secrets", "-n", namespace)
    # RBAC grants these for a VmPool's VirtualMachines; the admission policy refuses any other's
    # (tests/integration/test_vmpool.py runs that with the chart's identity).
    assert can(control_plane, sa, "delete", "virtualmachines.vmop.io", "-n", "default")
    assert can(control_plane, sa, "create", "virtualmachines.vmop.io", "-n", "default")
    assert not can(control_plane, sa, "update", "virtualmachines.vmop.io", "-n", "default")
    assert not can(control_plane, sa, "delete", "vmgroups.vmop.io", "-n", "default")
    assert not can(control_plane, sa, "create", "pods", "-n", namespace)

    control_plane.helm(
        "upgrade",
        *helm_args(
            release=release,
            namespace=namespace,
            values=[f"compute.url={COMPUTE_URL}", "credentials.token=t0ken", "logLevel=DEBUG"],
        ),
    )
    args = get("deployment", fullname, "-n", namespace)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--log-level=DEBUG" in args
    history = control_plane.helm("history", release, "--namespace", namespace, "-o", "json").stdout
    assert [entry["status"] for entry in json.loads(history)] == ["superseded", "deployed"]


@pytest.mark.integration
def test_namespaced_install_grants_only_the_watched_namespaces(
    control_plane: ControlPlane, namespaces: list[str], releases: list[tuple[str, str]]
) -> None:
    namespace = create_namespace(control_plane, namespaces, unique("vmop-ns"))
    team = create_namespace(control_plane, namespaces, f"{namespace}-team")
    other = create_namespace(control_plane, namespaces, f"{namespace}-other")
    control_plane.helm(
        "install",
        *helm_args(
            release="tenant",
            namespace=namespace,
            values=[f"compute.url={COMPUTE_URL}", f"watchNamespaces={{{team}}}", "peering.enabled=true"],
        ),
    )
    releases.append(("tenant", namespace))
    listed = control_plane.kubectl("get", "clusterroles", "-l", "app.kubernetes.io/instance=tenant", "-o", "name")
    assert listed.stdout.strip() == "", "namespaced mode: no ClusterRole"
    control_plane.kubectl("get", "role/tenant-vmop", "rolebinding/tenant-vmop", "kopfpeering/tenant-vmop", "-n", team)

    sa = as_sa(namespace, "tenant-vmop")
    assert can(control_plane, sa, "watch", "virtualmachines.vmop.io", "-n", team)
    assert can(control_plane, sa, "patch", "kopfpeerings.kopf.dev/tenant-vmop", "-n", team)
    assert not can(control_plane, sa, "watch", "virtualmachines.vmop.io", "-n", other)
    assert not can(control_plane, sa, "watch", "virtualmachines.vmop.io", "--all-namespaces")
    # A Role may grant `get` on its own namespace (the request is attributed to it): a real read.
    assert control_plane.kubectl("get", "namespace", team, sa, check=False).returncode == 0
    forbidden = control_plane.kubectl("get", "namespace", other, sa, check=False)
    assert forbidden.returncode != 0 and "Forbidden" in forbidden.stderr


@pytest.mark.integration
def test_uninstall_leaves_crds_and_custom_resources(
    control_plane: ControlPlane, namespaces: list[str], releases: list[tuple[str, str]]
) -> None:
    namespace = create_namespace(control_plane, namespaces, unique("vmop-uninstall"))
    control_plane.helm(
        "install", *helm_args(release="gone", namespace=namespace, values=[f"compute.url={COMPUTE_URL}"])
    )
    releases.append(("gone", namespace))
    control_plane.kubectl("apply", "-f", "-", stdin=virtual_machine("keep-me", namespace))

    control_plane.helm("uninstall", "gone", "--namespace", namespace, "--wait")
    assert control_plane.kubectl("get", "deployment", "gone-vmop", "-n", namespace, check=False).returncode != 0
    control_plane.kubectl("get", "crd", VM_CRD)
    kept = json.loads(control_plane.kubectl("get", "virtualmachine", "keep-me", "-n", namespace, "-o", "json").stdout)
    assert kept["spec"]["disks"][0]["name"] == "root"


# --- the CRD upgrade paths, from a previous chart version -------------------------------------------

UUID_COLUMN = """\
    - name: UUID
      type: string
      jsonPath: .status.uuid
      priority: 1
"""


@pytest.fixture
def previous_chart(tmp_path: Path) -> Path:
    """The chart as a previous version shipped it: version 0.0.9, whose VirtualMachine CRD lacked
    the UUID printer column."""
    chart = tmp_path / "vmop"
    shutil.copytree(CHART, chart)
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.0.9"))
    crd = chart / "crds" / "virtualmachines.yaml"
    assert UUID_COLUMN in crd.read_text()
    crd.write_text(crd.read_text().replace(UUID_COLUMN, ""))
    return chart


@pytest.fixture
def restore_crds(control_plane: ControlPlane) -> Iterator[None]:
    """The tests below change the session's CRDs: put back crds/ as the control plane fixture
    applied it, without Helm's ownership marks."""
    yield
    for path in sorted(CRDS.glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        marks = ("meta.helm.sh/release-name-", "meta.helm.sh/release-namespace-", "helm.sh/resource-policy-")
        control_plane.kubectl("annotate", "crd", name, *marks, check=False)
        control_plane.kubectl("label", "crd", name, "app.kubernetes.io/managed-by-", check=False)
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=vmop-dev", "-f", str(CRDS))


def columns(plane: ControlPlane) -> list[str]:
    jsonpath = "-o=jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}"
    return plane.kubectl("get", "crd", VM_CRD, jsonpath).stdout.split()


@pytest.mark.integration
@pytest.mark.usefixtures("restore_crds")
def test_crd_upgrade_with_crds_install(
    control_plane: ControlPlane, namespaces: list[str], releases: list[tuple[str, str]], previous_chart: Path
) -> None:
    """crds.install=true: `helm upgrade` upgrades the CRDs, and uninstall keeps them."""
    namespace = create_namespace(control_plane, namespaces, unique("vmop-crds"))
    url = f"compute.url={COMPUTE_URL}"
    # The CRDs exist already (as on any cluster that ran vmop): the release takes them over.
    control_plane.helm(
        "install",
        "crd",
        str(previous_chart),
        "-n",
        namespace,
        "--set",
        url,
        "--set",
        "crds.install=true",
        "--take-ownership",
    )
    releases.append(("crd", namespace))
    assert "UUID" not in columns(control_plane), "the previous version's CRD"

    control_plane.helm("upgrade", *helm_args(release="crd", namespace=namespace, values=[url, "crds.install=true"]))
    assert "UUID" in columns(control_plane), "helm upgrade upgraded the templated CRD"
    crd = json.loads(control_plane.kubectl("get", "crd", VM_CRD, "-o", "json").stdout)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    control_plane.kubectl("apply", "-f", "-", stdin=virtual_machine("survivor", namespace))
    control_plane.helm("uninstall", "crd", "-n", namespace, "--wait")
    control_plane.kubectl("get", "crd", VM_CRD)
    control_plane.kubectl("get", "virtualmachine", "survivor", "-n", namespace)


@pytest.mark.integration
@pytest.mark.usefixtures("restore_crds")
def test_crd_upgrade_with_server_side_apply(
    control_plane: ControlPlane, namespaces: list[str], releases: list[tuple[str, str]], previous_chart: Path
) -> None:
    """The default (crds/ folder): `helm upgrade` leaves the CRDs as they were; a server-side apply
    of the new chart's crds/ upgrades them."""
    namespace = create_namespace(control_plane, namespaces, unique("vmop-crds"))
    url = f"compute.url={COMPUTE_URL}"
    previous_crds = str(previous_chart / "crds")
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", previous_crds)
    control_plane.helm("install", "ssa", str(previous_chart), "-n", namespace, "--set", url)
    releases.append(("ssa", namespace))
    assert "UUID" not in columns(control_plane)

    control_plane.helm("upgrade", *helm_args(release="ssa", namespace=namespace, values=[url]))
    assert "UUID" not in columns(control_plane), "Helm never upgrades crds/: the documented reason for the step below"

    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART_CRDS))
    assert "UUID" in columns(control_plane)


def test_metrics_service_and_optional_service_monitor() -> None:
    plain = render_objects("metrics.port=9100")
    service = one(plain, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}]
    assert "--metrics-port=9100" in container(plain)["args"]
    assert not [o for o in plain if o["kind"] == "ServiceMonitor"]
    monitored = render_objects("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom")
    monitor = one(monitored, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "interval": "30s"}]
    assert monitor["metadata"]["labels"]["release"] == "prom"
