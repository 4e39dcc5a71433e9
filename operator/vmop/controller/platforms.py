"""The platforms one process talks to: its own (the flags' --compute-url) and one per ComputeProvider,
each with its compute client, inventory, batcher and controllers.

A provider's platform is built in every process on first use (a pass of an object on it, or the
provider's own pass), not when its ComputeProvider is seen: with shards, the provider's own pass
runs in one process, and the others must still serve their objects. It is built again when the
provider's spec or its Secret's values change (a SHA-256 digest of both: credentials rotate
without a restart; the Secret is read through the SecretCache, so a rotation shows within its
TTL), and let go when the provider is deleted. A client replaced or let go is closed after
RETIRE_SECONDS, when calls still under way with it have ended.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr, ValidationError

from vmop import metrics
from vmop.api.computeprovider import ComputeProviderSpec
from vmop.api.conditions import Reason
from vmop.compute import ComputeClient, ComputeSettings
from vmop.compute.inventory import Inventory
from vmop.compute.profile import PlatformProfile
from vmop.controller.kube import KubeError, NamespacePolicies, SecretCache
from vmop.controller.objects import ObjectView
from vmop.controller.virtualmachine import VirtualMachineController
from vmop.controller.vmgroup import VmGroupController
from vmop.controller.vmmigration import VmMigrationController
from vmop.engine.store import Store
from vmop.reconcile.providers import (
    OWN,
    Refusal,
    choose,
    digest,
    kept,
    namespace_allowed,
    needs_labels,
    not_allowed,
    provider_ref,
)

log = logging.getLogger(__name__)

# A replaced client's calls under way end within its longest timeout (save, restore, deletes).
RETIRE_SECONDS = 330.0


@dataclass
class Platform:
    name: str  # OWN, or the ComputeProvider's
    client: ComputeClient
    inventory: Inventory
    vms: VirtualMachineController
    groups: VmGroupController
    migrations: VmMigrationController


@dataclass(frozen=True)
class ClientShape:
    """What a compute client is built from, besides its credentials."""

    url: str
    verify_tls: bool
    max_concurrency: int
    timeout: float
    profile: PlatformProfile


def compute_settings(shape: ClientShape, secret: Mapping[str, str], ca_file: str | None) -> ComputeSettings:
    return ComputeSettings(
        base_url=shape.url,
        token=SecretStr(secret["token"]) if secret.get("token") else None,
        username=secret.get("username"),
        password=SecretStr(secret["password"]) if secret.get("password") else None,
        ca_bundle=Path(ca_file) if ca_file else None,
        verify_tls=shape.verify_tls,
        max_concurrency=shape.max_concurrency,
        action_timeout=shape.timeout,
        profile=shape.profile,
    )


async def compute_client(shape: ClientShape, secret: Mapping[str, str]) -> ComputeClient:
    """A client with the Secret's credentials (token, or username and password) and CA (ca.crt)."""
    with tempfile.TemporaryDirectory(prefix="vmop-ca-") as scratch:
        # The SSL context reads the CA when the client is built; the file is gone right after.
        ca_file = None
        if secret.get("ca.crt"):
            ca_file = str(Path(scratch) / "ca.crt")
            await asyncio.to_thread(Path(ca_file).write_text, secret["ca.crt"])
        return ComputeClient(compute_settings(shape, secret, ca_file), observer=metrics.observe_call)


def profile_of(spec: ComputeProviderSpec) -> PlatformProfile:
    """The provider's profile; the fields it leaves unset keep vmop's defaults."""
    return PlatformProfile.model_validate(
        {key: value for key, value in spec.profile.model_dump().items() if value is not None}
    )


Build = Callable[[str, ComputeClient, int], Platform]  # (name, client, page size) -> its platform


@dataclass
class _Built:
    digest: str
    platform: Platform


class Platforms:
    def __init__(
        self,
        own: Platform,
        build: Build,
        providers: Store[ObjectView] | None,
        *,
        secrets: SecretCache,
        namespaces: NamespacePolicies,
        secrets_namespace: str,
        timeout: float,
    ) -> None:
        """``providers``: the ComputeProviders' store; None with --no-compute-providers."""
        self.own = own
        self._build = build
        self._providers = providers
        self._secrets = secrets
        self._namespaces = namespaces
        self._secrets_namespace = secrets_namespace
        self._timeout = timeout
        self._built: dict[str, _Built] = {}
        self._specs: dict[str, tuple[int, ComputeProviderSpec | Refusal]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ which provider

    def defaults(self) -> list[str]:
        if self._providers is None:
            return []
        # One being deleted still counts: its objects stay its own until they are gone.
        return [p.name for p in self._providers.views() if p.spec.get("default") is True]

    def chosen(self, obj: ObjectView) -> str | Refusal:
        """The name of the provider ``obj`` lives on (OWN: the flags'), or why none may be used."""
        ref = provider_ref(obj.spec)
        known = ref is not None and self._providers is not None and self._providers.get(("", ref)) is not None
        return choose(ref, self.defaults(), known, enabled=self._providers is not None)

    def home(self, obj: ObjectView) -> str | Refusal:
        """The provider ``obj``'s platform objects are on: as recorded (status.provider), else as chosen."""
        recorded = obj.status.get("provider")
        return str(recorded) if recorded is not None else self.chosen(obj)

    def spec(self, provider: ObjectView) -> ComputeProviderSpec | Refusal:
        """The provider's spec, parsed once per generation."""
        cached = self._specs.get(provider.name)
        if cached is None or cached[0] != provider.generation:
            try:
                parsed: ComputeProviderSpec | Refusal = ComputeProviderSpec.model_validate(provider.spec)
            except ValidationError as error:  # the CRD admits only valid specs: an older CRD's object
                parsed = Refusal(Reason.INVALID_SPEC, f"ComputeProvider {provider.name}: {error.error_count()} errors")
            cached = (provider.generation, parsed)
            self._specs[provider.name] = cached
        return cached[1]

    async def resolve(self, obj: ObjectView) -> Platform | Refusal:
        """The platform of ``obj``, built if need be; a Refusal when it may not use any."""
        name = self.chosen(obj)
        if isinstance(name, Refusal):
            return name
        refusal = kept(obj.status.get("provider"), name)
        if refusal is not None:
            return refusal
        if name == OWN:
            return self.own
        provider = self._providers.get(("", name)) if self._providers is not None else None
        if provider is None:  # gone since chosen
            return Refusal(Reason.PROVIDER_NOT_FOUND, f"ComputeProvider {name} does not exist")
        spec = self.spec(provider)
        if isinstance(spec, Refusal):
            return spec
        if not await self._allows(spec, obj.namespace):
            return not_allowed(name, obj.namespace)
        return await self.of(provider)

    async def _allows(self, spec: ComputeProviderSpec, namespace: str) -> bool:
        labels = None
        if needs_labels(spec.allowed_namespaces):
            try:
                labels = await self._namespaces.labels(namespace)
            except KubeError as error:  # unreadable: not shown to allow it
                log.warning("cannot read the labels of namespace %s: %s", namespace, error)
        return namespace_allowed(spec.allowed_namespaces, namespace, labels)

    # ------------------------------------------------------------ the provider's platform

    async def of(self, provider: ObjectView) -> Platform | Refusal:
        """The provider's platform: the one built, or a new one when its spec or Secret changed."""
        spec = self.spec(provider)
        if isinstance(spec, Refusal):
            return spec
        secret: Mapping[str, str] = {}
        if spec.secret_ref is not None:
            try:
                secret = await self._secrets.data(self._secrets_namespace, spec.secret_ref.name)
            except LookupError as error:  # its message names the Secret, never a value
                return Refusal(Reason.PROVIDER_NOT_READY, f"ComputeProvider {provider.name}: {error}")
        wanted = digest(spec, secret)
        async with self._locks.setdefault(provider.name, asyncio.Lock()):
            built = self._built.get(provider.name)
            if built is not None and built.digest == wanted:
                return built.platform
            shape = ClientShape(
                spec.url, not spec.tls.insecure_skip_verify, spec.max_concurrency, self._timeout, profile_of(spec)
            )
            platform = self._build(provider.name, await compute_client(shape, secret), spec.page_size)
            self._built[provider.name] = _Built(wanted, platform)
            if built is not None:
                log.info("ComputeProvider %s: its spec or Secret changed: a new compute client", provider.name)
                self._retire(built.platform)
            return platform

    def forget(self, name: str) -> None:
        """The provider is deleted: its platform goes (once calls under way have ended)."""
        self._specs.pop(name, None)
        built = self._built.pop(name, None)
        if built is not None:
            self._retire(built.platform)

    def _retire(self, platform: Platform, delay: float = RETIRE_SECONDS) -> None:
        async def close_later() -> None:
            try:
                await asyncio.sleep(delay)
            finally:  # at shutdown too
                await platform.client.aclose()

        task = asyncio.create_task(close_later(), name=f"retire-{platform.name}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        clients = [self.own.client, *(b.platform.client for b in self._built.values())]
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)
