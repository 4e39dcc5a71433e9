"""How an operator process is configured (`vmop run` flags), validated in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vmop.compute.profile import PlatformProfile


class OperatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    compute_url: str = Field(description="the compute API, e.g. https://hci.example or http://127.0.0.1:8900")
    credentials_secret: str | None = Field(
        default=None, description="NAMESPACE/NAME of a Secret with token, or username and password; ca.crt optional"
    )
    insecure_skip_verify: bool = False
    namespaces: list[str] = Field(default_factory=list, description="watch these (glob patterns); empty: all")
    resync_seconds: float = Field(default=60.0, gt=0)
    max_concurrency: int = Field(default=16, ge=1, description="compute API requests in flight")
    page_size: int = Field(default=500, ge=0, description="list page size; 0: one unpaged list (the doc: <= 0)")
    default_deletion_policy: Literal["Delete", "Retain"] = "Delete"
    liveness_port: int = 8080
    metrics_port: int = Field(default=8081, ge=0, description="Prometheus /metrics; 0 disables")
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    peering: str | None = Field(default=None, description="kopf peering name for hot standby; None: standalone")
    peering_priority: int = Field(
        default=0, description="with peering: the live operator of the highest priority acts, the others wait"
    )
    peering_lifetime: int = Field(
        default=60, ge=1, description="with peering: seconds a silent (killed) peer still counts as alive"
    )
    kubeconfig: Path | None = None
    kube_qps: float = Field(default=100.0, gt=0, description="Kubernetes requests a second, after the burst")
    kube_burst: int = Field(default=200, ge=1, description="Kubernetes requests at once before the rate applies")
    compute_timeout: float = Field(
        default=60.0,
        gt=0,
        description="seconds to wait for one compute answer (a create's outcome is unknown after it)",
    )
    create_grace_seconds: float | None = Field(
        default=None,
        gt=0,
        description="after a create with no known outcome, wait this long for the VM to appear before creating "
        "again; default: twice the compute timeout",
    )
    duplicate_guard_seconds: float = Field(
        default=3600.0, ge=0, description="a second create for one object within this window waits for a person; 0: off"
    )

    @property
    def create_grace(self) -> float:
        return self.create_grace_seconds or 2 * self.compute_timeout

    profile: PlatformProfile = Field(
        default_factory=PlatformProfile, description="the platform's answers where the compute doc is silent"
    )
