"""ComputeProvider: the model and its CRD, which provider an object lives on (reconcile/providers.py),
the namespace policy, the per-provider platforms rebuilt on a digest change (controller/platforms.py),
the refusals in a pass (no platform call), and the provider's own pass (status, deletion waiting)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import ValidationError

from tests.support.fakekube import FakeKube
from tests.support.simulation import FakeClock
from tests.unit.test_engine_passes import PLURAL, Harness, vm_body
from vmop.api.annotations import FINALIZER
from vmop.api.computeprovider import AllowedNamespaces, ComputeProviderSpec, NamespaceSelector
from vmop.api.conditions import READY, SYNCED, Reason
from vmop.api.crd import COMPUTE_PROVIDER, KINDS, custom_resource_definition
from vmop.cli import build_parser
from vmop.compute import ComputeClient, ComputeSettings
from vmop.compute.errors import ComputeError, ComputeUnavailable
from vmop.compute.reach import Reach, reach
from vmop.config import config_from_arguments
from vmop.controller.computeprovider import ComputeProviderPasses
from vmop.controller.kube import KubeAccess, NamespacePolicies, SecretCache
from vmop.controller.objects import ObjectView, view_of
from vmop.controller.passes import Stores, VmMigrationPasses
from vmop.controller.platforms import Build, Platform, Platforms, profile_of
from vmop.controller.vmmigration import VmMigrationController
from vmop.controller.writes import ObjectWrites
from vmop.engine import Done, Failed, RequeueAfter
from vmop.engine.store import Store
from vmop.reconcile.providers import (
    OWN,
    Refusal,
    choose,
    digest,
    kept,
    mismatch,
    namespace_allowed,
    provider_status,
    refused_status,
    selector_matches,
)

URL = "https://hci-a.example"


def provider_view(name: str, spec: dict[str, Any], *, generation: int = 1, **metadata: Any) -> ObjectView:
    body = {"metadata": {"name": name, "uid": f"uid-{name}", "generation": generation, **metadata}, "spec": spec}
    return view_of(body)


# ------------------------------------------------------------ model and CRD


def test_the_crd_is_cluster_scoped_and_the_kinds_that_live_on_a_platform_have_a_provider_ref() -> None:
    crd = custom_resource_definition(COMPUTE_PROVIDER)
    assert crd["spec"]["scope"] == "Cluster"
    others = [k for k in KINDS if k is not COMPUTE_PROVIDER]
    assert all(custom_resource_definition(k)["spec"]["scope"] == "Namespaced" for k in others)
    for kind in ("virtualmachines", "vmgroups", "vmmigrations"):
        schema = next(custom_resource_definition(k) for k in KINDS if k.plural == kind)
        spec = schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert "providerRef" in spec["properties"], kind
        assert any("providerRef" in rule["rule"] for rule in spec["x-kubernetes-validations"]), kind
    pool = next(custom_resource_definition(k) for k in KINDS if k.plural == "vmpools")
    template = pool["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert "providerRef" in template["template"]["properties"]["spec"]["properties"]


def test_a_spec_takes_the_documented_shape_and_its_profile_keeps_vmop_defaults() -> None:
    spec = ComputeProviderSpec.model_validate(
        {
            "url": URL,
            "secretRef": {"name": "hci-a"},
            "profile": {"busyScodes": [4242]},
            "allowedNamespaces": {"names": ["team-a"], "selector": {"matchLabels": {"hci": "a"}}},
            "default": True,
        }
    )
    profile = profile_of(spec)
    assert profile.busy_scodes == frozenset({4242})
    assert profile.not_found_scodes == profile_of(ComputeProviderSpec(url=URL)).not_found_scodes
    with pytest.raises(ValidationError):
        ComputeProviderSpec.model_validate({"url": "ftp://x"})


# ------------------------------------------------------------ which provider


def test_choose_follows_the_ref_else_the_one_default_else_the_flags() -> None:
    assert choose("a", [], True, enabled=True) == "a"
    assert choose(None, ["b"], False, enabled=True) == "b"
    assert choose(None, [], False, enabled=True) == OWN
    missing = choose("nope", [], False, enabled=True)
    assert isinstance(missing, Refusal) and missing.reason == Reason.PROVIDER_NOT_FOUND
    ambiguous = choose(None, ["a", "b"], False, enabled=True)
    assert isinstance(ambiguous, Refusal) and ambiguous.reason == Reason.PROVIDER_AMBIGUOUS
    disabled = choose("a", [], True, enabled=False)
    assert isinstance(disabled, Refusal) and "--no-compute-providers" in disabled.message


def test_an_object_stays_on_the_provider_it_was_made_on_and_a_migration_on_its_vms() -> None:
    assert kept(None, "a") is None and kept("a", "a") is None
    moved = kept(OWN, "a")
    assert isinstance(moved, Refusal) and moved.reason == Reason.PROVIDER_MISMATCH
    assert mismatch("a", "a") is None
    refused = mismatch("a", "b")
    assert refused is not None and refused.reason == Reason.PROVIDER_MISMATCH and "one endpoint" in refused.message


@pytest.mark.parametrize(
    ("allowed", "namespace", "labels", "expected"),
    [
        (None, "any", None, True),
        (AllowedNamespaces(), "any", {}, False),  # set but empty: none
        (AllowedNamespaces(names=["team-a"]), "team-a", None, True),
        (AllowedNamespaces(names=["team-a"]), "team-b", {"hci": "a"}, False),
        (AllowedNamespaces(selector=NamespaceSelector(match_labels={"hci": "a"})), "x", {"hci": "a"}, True),
        (AllowedNamespaces(selector=NamespaceSelector(match_labels={"hci": "a"})), "x", {"hci": "b"}, False),
        (AllowedNamespaces(selector=NamespaceSelector(match_labels={"hci": "a"})), "x", None, False),  # unread
    ],
)
def test_namespace_policy(
    allowed: AllowedNamespaces | None, namespace: str, labels: dict[str, str] | None, expected: bool
) -> None:
    assert namespace_allowed(allowed, namespace, labels) is expected


def test_selector_expressions_hold_as_kubernetes_label_selectors() -> None:
    selector = NamespaceSelector.model_validate(
        {
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
                {"key": "frozen", "operator": "DoesNotExist"},
                {"key": "team", "operator": "Exists"},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
            ]
        }
    )
    assert selector_matches(selector, {"tier": "gold", "team": "x"})
    assert not selector_matches(selector, {"tier": "gold", "team": "x", "frozen": "y"})
    assert not selector_matches(selector, {"tier": "bronze", "team": "x"})
    assert not selector_matches(selector, {"tier": "gold"})
    assert not selector_matches(selector, {"tier": "gold", "team": "x", "env": "prod"})
    assert selector_matches(NamespaceSelector(), {})


def test_the_digest_moves_with_the_spec_and_the_secret_values_only() -> None:
    spec = ComputeProviderSpec(url=URL)
    first = digest(spec, {"token": "one", "ca.crt": "pem"})
    assert first == digest(spec, {"ca.crt": "pem", "token": "one"})
    assert first != digest(spec, {"token": "two", "ca.crt": "pem"})
    assert first != digest(ComputeProviderSpec(url=URL, max_concurrency=3), {"token": "one", "ca.crt": "pem"})
    assert "one" not in first


# ------------------------------------------------------------ statuses


def test_a_refused_object_says_why_once() -> None:
    refusal = Refusal(Reason.PROVIDER_NOT_ALLOWED, "no")
    status = refused_status({}, refusal, now=100.0, generation=2)
    assert status is not None
    (condition,) = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (SYNCED, "False", refusal.reason)
    assert refused_status(status, refusal, now=200.0, generation=2) is None  # said already: no write


def test_provider_status_from_a_look() -> None:
    fine = provider_status({}, Reach(True, True, ("c1",), ("t1",)), [], deleting=False, generation=1, now=1.0)
    assert fine["reachable"] and fine["authenticated"] and fine["clusters"] == ["c1"] and fine["tenants"] == ["t1"]
    assert fine["conditions"][0]["status"] == "True" and fine["inUseBy"] is None
    refused = ComputeError("/group/tree", 10003, "a valid bearer token is required", http_status=401)
    bad = provider_status(fine, Reach(True, False, error=refused), [], deleting=False, generation=1, now=2.0)
    ready = next(c for c in bad["conditions"] if c["type"] == READY)
    assert (ready["status"], ready["reason"]) == ("False", Reason.AUTHENTICATION_FAILED)
    assert bad["lastError"]["scode"] == 10003
    users = ["VirtualMachine ns/a"]
    waiting = provider_status(fine, Reach(True, True), users, deleting=True, generation=1, now=3.0)
    assert waiting["inUseBy"] == users
    ready = next(c for c in waiting["conditions"] if c["type"] == READY)
    assert ready["reason"] == Reason.IN_USE and "VirtualMachine ns/a" in ready["message"]


async def test_reach_reads_clusters_and_tenants_and_tells_refused_credentials(
    calls: tuple[ComputeClient, list[str]],
) -> None:
    client, called = calls
    seen = await reach(client)
    assert seen.reachable and seen.authenticated and seen.clusters and seen.tenants
    assert called == ["group/tree"]

    class Refusing(ComputeClient):
        async def group_tree(self, query: Any) -> Any:
            raise ComputeError("/group/tree", 10003, "no", http_status=401)

    class Silent(ComputeClient):
        async def group_tree(self, query: Any) -> Any:
            raise ComputeUnavailable("/group/tree", "ConnectError")

    settings = ComputeSettings(base_url="http://unused.test")
    assert (await reach(Refusing(settings))).authenticated is False
    silent = await reach(Silent(settings))
    assert not silent.reachable and silent.authenticated is None


# ------------------------------------------------------------ platforms


class Secrets:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, str]] = {}

    async def data(self, namespace: str, name: str) -> dict[str, str]:
        if (namespace, name) not in self.values:
            raise LookupError(f"Secret {name} does not exist in namespace {namespace}")
        return self.values[(namespace, name)]


class Labels:
    def __init__(self, labels: dict[str, dict[str, str]]) -> None:
        self._labels = labels
        self.reads = 0

    async def labels(self, namespace: str) -> dict[str, str]:
        self.reads += 1
        return self._labels.get(namespace, {})


class Built:
    def __init__(self, own: Platform) -> None:
        self.own = own
        self.made: list[tuple[str, ComputeClient]] = []

    def __call__(self, name: str, client: ComputeClient, page_size: int) -> Platform:
        self.made.append((name, client))
        return Platform(name, client, self.own.inventory, self.own.vms, self.own.groups, self.own.migrations)


def own_of(harness: Harness) -> Platform:
    """The harness's VirtualMachine controller as the flags' platform (its writes go to the harness)."""
    controller = harness.passes.controller
    return Platform(OWN, controller.client, controller.inventory, controller, cast(Any, None), cast(Any, None))


@pytest.fixture
def own(calls: tuple[ComputeClient, list[str]], clock: FakeClock) -> Platform:
    client, called = calls
    return own_of(Harness(client, clock, called))


def platforms_for(
    own: Platform, providers: Store[ObjectView], secrets: Secrets, labels: Labels, build: Build | None = None
) -> Platforms:
    return Platforms(
        own,
        build or Built(own),
        providers,
        secrets=cast(SecretCache, secrets),
        namespaces=cast(NamespacePolicies, labels),
        secrets_namespace="vmop-system",
        timeout=5.0,
    )


async def test_a_provider_platform_is_built_once_and_again_when_its_secret_changes(own: Platform) -> None:
    providers: Store[ObjectView] = Store()
    providers.put(provider_view("a", {"url": URL, "secretRef": {"name": "hci-a"}, "default": True}))
    secrets = Secrets()
    secrets.values[("vmop-system", "hci-a")] = {"token": "one"}
    platforms = platforms_for(own, providers, secrets, Labels({}))
    vm = ObjectView("ns", "web", "uid", 1, {}, {}, {})
    first = await platforms.resolve(vm)
    assert isinstance(first, Platform) and first.name == "a"
    assert await platforms.resolve(vm) is first, "unchanged: the same client"
    secrets.values[("vmop-system", "hci-a")] = {"token": "two"}
    second = await platforms.resolve(vm)
    assert isinstance(second, Platform) and second is not first and second.client is not first.client
    del secrets.values[("vmop-system", "hci-a")]
    missing = await platforms.resolve(vm)
    assert isinstance(missing, Refusal) and missing.reason == Reason.PROVIDER_NOT_READY
    assert "two" not in missing.message
    platforms.forget("a")
    await platforms.close()


async def test_a_namespace_the_provider_does_not_allow_is_refused(own: Platform) -> None:
    providers: Store[ObjectView] = Store()
    allowed = {"names": ["team-a"], "selector": {"matchLabels": {"hci": "a"}}}
    providers.put(provider_view("a", {"url": URL, "allowedNamespaces": allowed}))
    labels = Labels({"labelled": {"hci": "a"}})
    platforms = platforms_for(own, providers, Secrets(), labels)

    def vm(namespace: str) -> ObjectView:
        return ObjectView(namespace, "web", "uid", 1, {"providerRef": {"name": "a"}}, {}, {})

    assert isinstance(await platforms.resolve(vm("team-a")), Platform)
    assert isinstance(await platforms.resolve(vm("labelled")), Platform)
    refused = await platforms.resolve(vm("other"))
    assert isinstance(refused, Refusal) and refused.reason == Reason.PROVIDER_NOT_ALLOWED
    assert "other" in refused.message
    no_ref = ObjectView("other", "web", "uid", 1, {}, {}, {})
    assert await platforms.resolve(no_ref) is own, "no providerRef and no default: the flags' platform"
    recorded = ObjectView("team-a", "web", "uid", 1, {"providerRef": {"name": "a"}}, {"provider": OWN}, {})
    moved = await platforms.resolve(recorded)
    assert isinstance(moved, Refusal) and moved.reason == Reason.PROVIDER_MISMATCH
    await platforms.close()


async def test_a_refused_vm_gets_synced_false_and_nothing_is_called(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, own: Platform
) -> None:
    client, called = calls
    harness = Harness(client, clock, called)
    providers: Store[ObjectView] = Store()
    providers.put(provider_view("a", {"url": URL, "allowedNamespaces": {"names": ["elsewhere"]}}))
    harness.passes.platforms = platforms_for(own, providers, Secrets(), Labels({}))
    body = vm_body("web-1")
    body["spec"]["providerRef"] = {"name": "a"}
    key = harness.apply(body)
    assert await harness.passes(key) == Done()
    assert called == [], "no platform call"
    stored = harness.kube.objects[(PLURAL, "ns", "web-1")]
    synced = next(c for c in stored["status"]["conditions"] if c["type"] == SYNCED)
    assert (synced["status"], synced["reason"]) == ("False", Reason.PROVIDER_NOT_ALLOWED)
    assert FINALIZER not in stored["metadata"].get("finalizers", [])
    assert [e["reason"] for e in harness.kube.events] == [Reason.PROVIDER_NOT_ALLOWED]
    # Deleting it (it had vmop's finalizer from before): refused too, retried, still no call.
    stored["metadata"]["finalizers"] = [FINALIZER]
    harness.stores.vms.put(view_of(harness.kube.delete(PLURAL, "ns", "web-1")))
    assert isinstance(await harness.passes(key), Failed)
    assert called == []


async def test_a_vm_on_the_flags_platform_records_it(calls: tuple[ComputeClient, list[str]], clock: FakeClock) -> None:
    client, called = calls
    harness = Harness(client, clock, called)
    harness.passes.platforms = platforms_for(own_of(harness), Store(), Secrets(), Labels({}))
    key = harness.apply(vm_body("web-2"))
    await harness.passes(key)
    assert harness.kube.objects[(PLURAL, "ns", "web-2")]["status"]["provider"] == OWN
    assert "unified_create" in called


# ------------------------------------------------------------ the provider's own pass


async def test_a_provider_pass_looks_and_a_deletion_waits_while_in_use(own: Platform) -> None:
    kube = FakeKube()
    kube_access = cast(KubeAccess, kube)
    providers: Store[ObjectView] = Store()

    def on_the_simulator(name: str, client: ComputeClient, page_size: int) -> Platform:
        return Platform(name, own.client, own.inventory, own.vms, own.groups, own.migrations)

    platforms = platforms_for(own, providers, Secrets(), Labels({}), on_the_simulator)
    writes = ObjectWrites(kube_access, "ComputeProvider", "computeproviders", providers.put)
    using: list[str] = ["VirtualMachine ns/web-1"]
    passes = ComputeProviderPasses(platforms, providers, lambda name: list(using), writes, clock=lambda: 50.0)
    body = {"metadata": {"namespace": "", "name": "a", "uid": "u", "generation": 1}, "spec": {"url": URL}}
    providers.put(view_of(kube.add("computeproviders", body)))
    assert await passes(("", "a")) == Done()
    stored = kube.objects[("computeproviders", "", "a")]
    assert stored["metadata"]["finalizers"] == [FINALIZER]
    assert stored["status"]["reachable"] and stored["status"]["authenticated"] and stored["status"]["clusters"]
    writes_before = len(kube.writes)
    await passes(("", "a"))
    assert len(kube.writes) == writes_before, "nothing new seen: nothing written"
    providers.put(view_of(kube.delete("computeproviders", "", "a")))
    assert isinstance(await passes(("", "a")), RequeueAfter)
    assert kube.objects[("computeproviders", "", "a")]["status"]["inUseBy"] == using
    using.clear()
    assert await passes(("", "a")) == Done()
    assert ("computeproviders", "", "a") not in kube.objects, "the finalizer let go: deleted"


async def test_a_migration_on_another_provider_than_its_vm_is_refused_before_any_call(own: Platform) -> None:
    kube = FakeKube()
    stores = Stores()
    writes = ObjectWrites(cast(KubeAccess, kube), "VmMigration", "vmmigrations", stores.migrations.put)
    providers: Store[ObjectView] = Store()
    providers.put(provider_view("a", {"url": URL}))
    passes = VmMigrationPasses(
        cast(VmMigrationController, None), stores, writes, platforms_for(own, providers, Secrets(), Labels({}))
    )
    stores.vms.put(ObjectView("ns", "web", "uid-web", 1, {}, {"provider": OWN, "uuid": "u1"}, {}))
    body = {
        "metadata": {"namespace": "ns", "name": "move", "uid": "uid-move", "generation": 1},
        "spec": {"vmRef": {"name": "web"}, "host": "h1", "providerRef": {"name": "a"}},
    }
    stores.migrations.put(view_of(kube.add("vmmigrations", body)))
    assert await passes(("ns", "move")) == Done()
    stored = kube.objects[("vmmigrations", "ns", "move")]
    synced = next(c for c in stored["status"]["conditions"] if c["type"] == SYNCED)
    assert (synced["status"], synced["reason"]) == ("False", Reason.PROVIDER_MISMATCH)
    assert "one endpoint" in synced["message"]
    assert not stored["metadata"].get("finalizers"), "refused before anything: no finalizer"


def test_the_options_are_fields_of_the_settings_model() -> None:
    parser = build_parser()
    off = config_from_arguments(parser.parse_args(["run", "--compute-url", URL]))
    assert not off.compute_providers and off.provider_secrets_namespace is None
    on = config_from_arguments(
        parser.parse_args(["run", "--compute-url", URL, "--compute-providers", "--provider-secrets-namespace", "hci"])
    )
    assert on.compute_providers and on.provider_secrets_namespace == "hci"
