"""One exception hierarchy for everything the compute API can do wrong, and its classification.

A refusal carries the platform's own scode and messages; a failure to get an envelope at all
(unreachable, timed out, not an envelope) carries no scode, so a status never shows a number the
platform did not send. Messages carry the endpoint and what the platform said, never request
bodies or headers, so credentials cannot leak through an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vmop.compute.profile import Hint, PlatformProfile
from vmop.compute.scodes import TRANSIENT


class ComputeError(Exception):
    """A call failed: the platform refused it (``scode`` set) or did not answer (subclasses, ``scode`` None)."""

    def __init__(
        self,
        endpoint: str,
        scode: int | None,
        message: str = "",
        message_cn: str = "",
        desc: str = "",
        *,
        hint: Hint | None = None,
        http_status: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.http_status = http_status  # the HTTP status the refusal came with (401/403: credentials)
        self.scode = scode
        self.message = message
        self.message_cn = message_cn
        self.desc = desc
        self.hint = hint  # what the platform profile says this scode means, if anything
        super().__init__(self._summary())

    def _summary(self) -> str:
        parts = [f"{self.endpoint}:" if self.scode is None else f"{self.endpoint}: scode {self.scode}"]
        if self.message:
            parts.append(self.message)
        if self.message_cn:
            parts.append(f"({self.message_cn})")
        if self.desc:
            parts.append(f"- {self.desc}")
        return " ".join(parts)

    @classmethod
    def from_output(
        cls,
        endpoint: str,
        output: Any,
        profile: PlatformProfile,
        redact: Callable[[str], str] = str,
        *,
        http_status: int | None = None,
    ) -> ComputeError:
        """``redact``: removes the client's credentials from the platform's words (compute/redact.py)."""
        return cls(
            endpoint,
            output.scode,
            redact(output.message),
            redact(output.message_cn),
            redact(output.desc),
            hint=profile.hint(output.scode),
            http_status=http_status,
        )

    @property
    def refused(self) -> bool:
        """The platform answered and said no. For an action the planner chose from an observation,
        that observation may be stale or the platform busy: look again and retry with backoff."""
        return self.scode is not None

    @property
    def transient(self) -> bool:
        return is_transient(self)


class ComputeUnavailable(ComputeError):
    """Transport failure, timeout or HTTP 5xx/429 without an envelope, after the retries ran out."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, None, f"platform unreachable: {reason}")


class ComputeProtocolError(ComputeError):
    """The answer was not a compute API envelope (HTML error page, bad JSON, wrong shape)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, None, f"unexpected response: {reason}")


class ComputeConfigError(ComputeError):
    """vmop's own settings cannot work (e.g. a credential no HTTP header can carry): never retried."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, None, f"configuration: {reason}")  # vmop's, not the platform's: no scode


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same call later, unchanged, may succeed. The one place this is decided."""
    if isinstance(error, ComputeUnavailable):
        return True
    if isinstance(error, ComputeProtocolError | ComputeConfigError):
        return False
    if isinstance(error, ComputeError):
        return error.hint in ("busy", "agent_missing") or error.scode in TRANSIENT
    return False
