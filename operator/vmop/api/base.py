"""Conventions every vmop resource model follows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python, frozen; descriptions become `kubectl explain`."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore", use_attribute_docstrings=True
    )


# Reasons a CEL rule may give (unset: FieldValueInvalid). FieldValueDuplicate exists too, but the
# apiserver (v1.37) then reports a bare "Duplicate value", without the rule's message.
REQUIRED = "FieldValueRequired"
FORBIDDEN = "FieldValueForbidden"


def cel(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """One x-kubernetes-validations entry (a CEL rule the apiserver enforces at admission)."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


IMMUTABLE = cel("self == oldSelf", "is immutable")
UUID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"
