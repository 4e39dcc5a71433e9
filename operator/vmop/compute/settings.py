"""How to reach the compute API: URL, credentials, TLS, timeouts, concurrency, retries."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from vmop.compute.profile import PlatformProfile


class RetryPolicy(BaseModel):
    """Capped exponential backoff with full jitter for transport failures, timeouts and 5xx."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=5, ge=1)
    base_delay: float = Field(default=0.2, gt=0)
    max_delay: float = Field(default=10.0, gt=0)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry number ``attempt`` (1-based); the real wait is jittered below it."""
        return float(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


class ComputeSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str = Field(description="e.g. https://hci.example:443 or http://127.0.0.1:8900 for vmop sim")
    token: SecretStr | None = Field(default=None, description="bearer token; wins over username/password")
    username: str | None = None
    password: SecretStr | None = None
    ca_bundle: Path | None = Field(default=None, description="PEM file of CAs to trust instead of the system's")
    verify_tls: bool = Field(default=True, description="False only for labs; vmop logs a warning")
    connect_timeout: float = Field(default=5.0, gt=0)
    # Timeouts fit the call (compute/endpoints.py says which is which): a list or an inspect that
    # has not answered in 15 s is a platform in trouble; the doc says save "接口返回时间和超时时间都会较长"
    # (answers late, with a long timeout). Creates take the action timeout: see the create grace.
    query_timeout: float = Field(default=15.0, gt=0, description="reads: list, inspect, progress")
    action_timeout: float = Field(default=60.0, gt=0, description="creates, power, shape and device calls")
    long_timeout: float = Field(default=300.0, gt=0, description="save, restore, shutoff, deletes")
    max_concurrency: int = Field(default=16, ge=1, description="requests in flight at once towards the platform")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    profile: PlatformProfile = Field(default_factory=PlatformProfile)
