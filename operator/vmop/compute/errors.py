"""One exception hierarchy for everything the compute API can do wrong, and its classification.

Messages carry the endpoint and what the platform said, never request bodies or headers,
so credentials cannot leak through an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vmop.compute.scodes import TRANSIENT, Scode


class ComputeError(Exception):
    """The platform answered with a non-zero ``scode`` (or could not be reached: see subclasses)."""

    def __init__(
        self,
        endpoint: str,
        scode: int,
        message: str = "",
        message_cn: str = "",
        desc: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.scode = scode
        self.message = message
        self.message_cn = message_cn
        self.desc = desc
        super().__init__(self._summary())

    def _summary(self) -> str:
        parts = [f"{self.endpoint}: scode {self.scode}"]
        if self.message:
            parts.append(self.message)
        if self.message_cn:
            parts.append(f"({self.message_cn})")
        if self.desc:
            parts.append(f"- {self.desc}")
        return " ".join(parts)

    @classmethod
    def from_output(cls, endpoint: str, output: Any, redact: Callable[[str], str] = str) -> ComputeError:
        """``redact``: removes the client's credentials from the platform's words (compute/redact.py)."""
        return cls(endpoint, output.scode, redact(output.message), redact(output.message_cn), redact(output.desc))

    @property
    def transient(self) -> bool:
        return is_transient(self)


class ComputeUnavailable(ComputeError):
    """Transport failure, timeout or HTTP 5xx/429 after the retries ran out."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, Scode.INTERNAL_ERROR, f"platform unavailable: {reason}")


class ComputeProtocolError(ComputeError):
    """The answer was not a compute API envelope (HTML error page, bad JSON, wrong shape)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, Scode.INTERNAL_ERROR, f"unexpected response: {reason}")


class ComputeConfigError(ComputeError):
    """vmop's own settings cannot work (e.g. a credential no HTTP header can carry): never retried."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, Scode.INVALID_PARAMETER, f"configuration: {reason}")


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same call later, unchanged, may succeed. The one place this is decided."""
    if isinstance(error, ComputeUnavailable):
        return True
    if isinstance(error, ComputeProtocolError):
        return False
    if isinstance(error, ComputeError):
        return error.scode in TRANSIENT
    return False
