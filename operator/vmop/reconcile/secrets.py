"""What a VirtualMachine takes from Secrets (cloud-init data, a console password), as the planner
needs it, and the digests status keeps instead of the values. Pure: the controller reads the
Secrets; nothing here logs, and no message quotes a value."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import SecretStr

from vmop.compute.models import REVEAL_SECRETS, CloudInitData

# The Secret keys spec.cloudInit reads, and the CloudInitData fields they fill.
CLOUD_INIT_KEYS = {"userData": "user_data", "networkData": "network_data", "metaData": "meta_data"}


class SecretProblem(Exception):
    """A Secret that cannot give what the spec asks of it. The message names the Secret and key,
    never a value."""


@dataclass(frozen=True)
class SecretInputs:
    """The values read from the VirtualMachine's Secrets for this pass (None: not asked for)."""

    cloud_init: CloudInitData | None = None
    console_password: SecretStr | None = None


def _mapping(secret: str, key: str, text: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None  # the parser's message quotes the text: not passed on
    if not isinstance(value, dict):
        raise SecretProblem(f"key {key} of Secret {secret} is not a YAML or JSON mapping")
    return value


def _user_data(text: str) -> dict[str, Any] | str:
    """Text as it is (#cloud-config), or the object when the text is a JSON object (the doc's
    examples send user_data as an object)."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            return value
    return text


def cloud_init_from(secret: str, data: dict[str, str]) -> CloudInitData:
    """The cloud-init data of a Secret's userData, networkData and metaData keys (one at least)."""
    present = {key: data[key] for key in CLOUD_INIT_KEYS if key in data}
    if not present:
        raise SecretProblem(f"Secret {secret} has none of the keys {', '.join(CLOUD_INIT_KEYS)}")
    fields: dict[str, Any] = {}
    for key, text in present.items():
        fields[CLOUD_INIT_KEYS[key]] = _user_data(text) if key == "userData" else _mapping(secret, key, text)
    return CloudInitData(**fields)


def console_password_from(secret: str, key: str, data: dict[str, str]) -> SecretStr:
    if not data.get(key):
        raise SecretProblem(f"Secret {secret} has no key {key}, or it is empty")
    return SecretStr(data[key])


def digest(salt: str, text: str) -> str:
    """sha256 of a secret value, salted with the VM's uuid: status compares it with the next one's,
    and equal values in two VMs do not show as equal digests."""
    return "sha256:" + hashlib.sha256(f"{salt}\0{text}".encode()).hexdigest()


def cloud_init_digest(salt: str, data: CloudInitData) -> str:
    dumped = data.model_dump(mode="json", exclude_none=True, context=REVEAL_SECRETS)
    return digest(salt, json.dumps(dumped, sort_keys=True, ensure_ascii=False))


def password_digest(salt: str, password: SecretStr) -> str:
    return digest(salt, password.get_secret_value())
