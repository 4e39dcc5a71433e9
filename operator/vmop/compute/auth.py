"""Pluggable authentication for the compute API (the doc does not fix a scheme).

Each scheme is an ``httpx.Auth``; secrets are ``SecretStr`` so reprs, logs and
exceptions show ``**********``.
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx
from pydantic import SecretStr


class BearerTokenAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=**********)"


class BasicAuth(httpx.Auth):
    def __init__(self, username: str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raw = f"{self._username}:{self._password.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        yield request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._username!r}, password=**********)"


def auth_from_credentials(
    token: SecretStr | None = None, username: str | None = None, password: SecretStr | None = None
) -> httpx.Auth | None:
    """The scheme the given credentials call for: a token wins, then username/password, else none."""
    if token is not None and token.get_secret_value():
        return BearerTokenAuth(token)
    if username and password is not None:
        return BasicAuth(username, password)
    return None
