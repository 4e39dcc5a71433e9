"""Credentials and secret payloads out of the platform's words. A platform or a gateway in front of
it may quote the request, Authorization header and body included, in its error text; that text
goes on to status, Events, logs and metrics. The client knows the credentials it sends and the
secrets of each request (console passwords, cloud-init data: RequestModel.secrets), so it removes
every form of them (raw, Basic's base64, percent-encoded) from platform text before it becomes a
ComputeError."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "[REDACTED]"


def forms(secret: str) -> set[str]:
    """The ways a credential may be quoted: as sent, percent-encoded, base64 (with or without padding)."""
    encoded = base64.b64encode(secret.encode()).decode()
    return {secret, quote(secret, safe=""), encoded, encoded.rstrip("=")}


class Redactor:
    """Replaces every given credential (in each of its forms) with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [secret for secret in secrets if secret]
        values = {form for secret in self._secrets for form in forms(secret)}
        # Longest first: "user:password" goes before "user", and a token before its prefixes.
        ordered = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None

    def adding(self, secrets: Iterable[str]) -> Redactor:
        """This redactor, also removing ``secrets`` (one request's): itself when there are none."""
        extra = [secret for secret in secrets if secret]
        return Redactor([*self._secrets, *extra]) if extra else self

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)
