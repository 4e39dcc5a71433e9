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
# Text vmop sends to the platform and shows in Events: no C0/C1 control characters (newline, tab,
# NUL, BEL...), no DEL, no bidirectional overrides or isolates (U+202E shows text reversed).
PRINTABLE = cel(
    r"!self.matches(r'[\x00-\x1f\x7f-\x9f\x{61c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]')",
    "must not contain control characters (C0, DEL, C1) or bidirectional overrides",
)
UUID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
