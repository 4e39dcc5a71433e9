"""Pluggable authentication for the compute API (the doc does not fix a scheme).

Each scheme is an ``httpx.Auth``; secrets are ``SecretStr`` so reprs, logs and
exceptions show ``**********``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator

import httpx
from pydantic import SecretStr

from vmop.compute.errors import ComputeConfigError

HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a bearer token may hold


class BearerTokenAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def secrets(self) -> list[str]:
        """What must never show (compute/redact.py)."""
        return [self._token.get_secret_value()]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not HEADER_SAFE.fullmatch(self._token.get_secret_value()):
            # A transport error would say the header value (the token) and be retried for ever.
            raise ComputeConfigError(request.url.path, "the bearer token holds spaces or control characters")
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=**********)"


class BasicAuth(httpx.Auth):
    def __init__(self, username: str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def secrets(self) -> list[str]:
        """The password, the username, and "username:password" (whose base64 is the header value)."""
        password = self._password.get_secret_value()
        return [password, self._username, f"{self._username}:{password}"]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raw = f"{self._username}:{self._password.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        yield request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._username!r}, password=**********)"


def auth_from_credentials(
    token: SecretStr | None = None, username: str | None = None, password: SecretStr | None = None
) -> BearerTokenAuth | BasicAuth | None:
    """The scheme the given credentials call for: a token wins, then username/password, else none.

    Whitespace around a token is dropped (no token holds any; a Secret made with ``kubectl create
    secret --from-file`` ends in a newline, which no HTTP header may carry), and a line break at
    the end of a username or password for the same reason."""
    value = token.get_secret_value().strip() if token is not None else ""
    if value:
        return BearerTokenAuth(SecretStr(value))
    user = (username or "").rstrip("\r\n")
    if user and password is not None:
        return BasicAuth(user, SecretStr(password.get_secret_value().rstrip("\r\n")))
    return None
