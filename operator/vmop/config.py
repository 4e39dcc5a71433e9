"""How an operator process is configured, stated once: each option's flag (`vmop run --resync-seconds`),
its environment variable (VMOP_RESYNC_SECONDS; the profile's VMOP_PROFILE__BUSY_SCODES), default and
help all come from this model (pydantic-settings). A flag wins over its variable."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, CliSettingsSource, SettingsConfigDict

from vmop.compute.profile import PlatformProfile

ENV_PREFIX = "VMOP_"
NESTED = "__"  # VMOP_PROFILE__BUSY_SCODES


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED,
        cli_kebab_case=True,
        cli_implicit_flags=True,  # --insecure-skip-verify, as before, and --no-insecure-skip-verify
        cli_hide_none_type=True,
        cli_avoid_json=True,
        # The flags' names before this model: the chart and the docs use them.
        cli_shortcuts={
            "namespaces": ["namespace", "n"],
            "profile.not-found-scodes": "not-found-scode",
            "profile.busy-scodes": "busy-scode",
            "profile.agent-missing-scodes": "agent-missing-scode",
            "profile.page-params": "page-param",
        },
    )

    compute_url: str = Field(description="the compute API base URL, e.g. https://hci.example or http://127.0.0.1:8900")
    credentials_secret: str | None = Field(
        default=None, description="NAMESPACE/NAME of a Secret with token, or username and password; ca.crt optional"
    )
    insecure_skip_verify: bool = Field(default=False, description="do not verify the platform's TLS")
    namespaces: list[str] = Field(
        default_factory=list, description="watch this namespace (repeatable, globs allowed); none: all namespaces"
    )
    resync_seconds: float = Field(
        default=60.0, gt=0, description="every object is compared with the platform this often"
    )
    max_concurrency: int = Field(default=16, ge=1, description="compute API requests in flight")
    page_size: int = Field(default=500, ge=0, description="list page size; 0: one unpaged list (the doc: <= 0)")
    default_deletion_policy: Literal["Delete", "Retain"] = Field(
        default="Delete", description="when neither the object nor its namespace says"
    )
    liveness_port: int = Field(default=8080, description="kopf's /healthz")
    metrics_port: int = Field(default=8081, ge=0, description="Prometheus /metrics; 0 disables")
    log_format: Literal["text", "json"] = Field(default="text", description="json: one object per line")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    peering: str | None = Field(default=None, description="kopf peering name for hot standby; none: standalone")
    peering_priority: int = Field(
        default=0,
        description="with --peering: the highest priority acts, lower ones stand by (equal priorities all pause)",
    )
    peering_lifetime: int = Field(
        default=60,
        ge=1,
        description="with --peering: seconds until a silent (killed) peer counts as gone and a standby takes over",
    )
    shards: int = Field(
        default=1, ge=1, description="split the objects over this many processes, each with its --shard-index"
    )
    shard_index: int = Field(
        default=0,
        ge=0,
        description="which of the --shards this process handles (the chart: its StatefulSet pod's ordinal)",
    )
    lease: str | None = Field(
        default=None,
        description="act only while holding the Lease NAME-<shard index> (coordination.k8s.io): a second process "
        "of the same shard stands by; with --shards > 1 and none: vmop",
    )
    lease_namespace: str | None = Field(
        default=None, description="the Leases' namespace; none: this pod's own (its service account's), else default"
    )
    lease_duration: float = Field(
        default=15.0, ge=3, description="seconds a Lease lasts unrenewed: a standby takes over this long after a crash"
    )
    compute_providers: bool = Field(
        default=False,
        description="watch ComputeProviders (cluster-scoped): objects may name one in spec.providerRef or use "
        "the one marked default; off: every object is on --compute-url (and one naming a provider is refused)",
    )
    provider_secrets_namespace: str | None = Field(
        default=None,
        description="where ComputeProviders' credentials Secrets are read; none: this pod's own namespace "
        "(its service account's), else default",
    )
    kubeconfig: Path | None = Field(default=None, description="outside a cluster: this kubeconfig, not $KUBECONFIG")
    # Above what one process writes on its own (about 200 a second, CPU-bound, bench/): a guard
    # against a runaway, not a throttle. At 100 the rate alone held 1,000 new VMs 18 s from Ready
    # (2,000 writes); an apiserver with no room answers 429 first (its priority and fairness), and
    # that pauses every write.
    kube_qps: float = Field(
        default=500.0,
        gt=0,
        description="vmop's Kubernetes requests a second after the burst (as client-go's qps); an overloaded "
        "apiserver (429, timeouts) pauses all of them",
    )
    kube_burst: int = Field(default=500, ge=1, description="Kubernetes requests at once before --kube-qps applies")
    compute_timeout: float = Field(
        default=60.0,
        gt=0,
        description="seconds to wait for a create, power, shape or device call (after it a create's outcome is "
        "unknown; reads wait 15 s; save, restore, shutoff and deletes 300 s)",
    )
    create_grace_seconds: float | None = Field(
        default=None,
        gt=0,
        description="after a create with no known outcome (crash, timeout), wait this long for the platform to "
        "finish it before creating again; none: twice --compute-timeout",
    )
    duplicate_guard_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="a second create for an object that created a VM this recently waits for a person; 0: off",
    )

    @model_validator(mode="after")
    def _shard_within(self) -> OperatorConfig:
        if self.shard_index >= self.shards:
            last = self.shards - 1
            raise ValueError(f"--shard-index {self.shard_index} is not one of the {self.shards} --shards (0..{last})")
        return self

    @property
    def lease_name(self) -> str | None:
        return self.lease or ("vmop" if self.shards > 1 else None)

    @property
    def create_grace(self) -> float:
        return self.create_grace_seconds or 2 * self.compute_timeout

    profile: PlatformProfile = Field(
        default_factory=PlatformProfile,
        description="the platform's answers where the compute doc is silent (see `vmop probe`)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option's flag on ``parser`` (`vmop run`)."""
    CliSettingsSource(OperatorConfig, root_parser=parser)


def config_from_arguments(args: argparse.Namespace) -> OperatorConfig:
    """The flags given, else their environment variables, else the defaults."""
    return OperatorConfig(_cli_settings_source=CliSettingsSource(OperatorConfig)(parsed_args=args))


def explain(error: ValidationError) -> str:
    """What is wrong, by flag and variable name."""
    problems = []
    for problem in error.errors():
        path = [str(part) for part in problem["loc"]]
        if not path:  # a rule between options (its message names them)
            problems.append(problem["msg"].removeprefix("Value error, "))
            continue
        flag = "--" + ".".join(path).replace("_", "-")
        problems.append(f"{flag} (env {ENV_PREFIX}{NESTED.join(path).upper()}): {problem['msg']}")
    return "; ".join(problems)
