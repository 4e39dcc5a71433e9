"""Every field of VirtualMachineSpec has exactly one treatment (api/treatment.py), so a field added
later cannot be changed silently: the walk below fails on one the table does not name."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from vmop.api.crd import KINDS, custom_resource_definition
from vmop.api.treatment import SPEC_TREATMENTS, Treatment, treatment_of
from vmop.api.virtualmachine import VirtualMachineSpec


def _models(annotation: Any, in_list: bool = False) -> Iterator[tuple[type[BaseModel], bool]]:
    """The models a field's type holds (through Optional, Annotated, list), and whether in a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, in_list
        return
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        yield from _models(arg, in_list or origin is list)


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every field, recursively, as the CRD names it: camelCase, list items as ``[]``."""
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or to_camel(name))
        yield path
        for inner, in_list in _models(info.annotation):
            yield from field_paths(inner, path + ("[]" if in_list else "") + ".")


ALL_PATHS = list(field_paths(VirtualMachineSpec))


def test_the_walk_finds_nested_fields_and_list_items() -> None:
    """The walk itself can fail: it reaches into optional models and lists of models."""
    for path in ("cpu.baseline", "meta.panicModel", "disks[].image.uuid", "interfaces[].qos.inbound.burst"):
        assert path in ALL_PATHS
    assert len(ALL_PATHS) > 60


def test_every_spec_field_has_a_treatment() -> None:
    missing = [path for path in ALL_PATHS if treatment_of(path) is None]
    assert not missing, f"spec fields with no treatment in vmop/api/treatment.py: {missing}"


def test_the_table_names_only_fields_that_exist() -> None:
    assert not set(SPEC_TREATMENTS) - set(ALL_PATHS)


def test_only_an_immutable_entry_covers_the_fields_under_it() -> None:
    assert treatment_of("template.linkedClone") is SPEC_TREATMENTS["template"]
    assert treatment_of("disks[].image.repository") is SPEC_TREATMENTS["disks[].image"]
    # A non-immutable parent does not answer for a field under it that the table does not name.
    assert treatment_of("interfaces[].qos.inbound.jitter") is None


def _schema_at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        item = part.removesuffix("[]")
        schema = schema["properties"][item]
        if part.endswith("[]"):
            schema = schema["items"]
    return schema


def test_every_immutable_field_has_a_transition_rule_in_the_crd() -> None:
    """Immutable means the apiserver refuses the change: a CEL rule on oldSelf at that field."""
    kind = next(k for k in KINDS if k.kind == "VirtualMachine")
    crd = custom_resource_definition(kind)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for path, rule in SPEC_TREATMENTS.items():
        if rule.treatment is not Treatment.IMMUTABLE:
            continue
        rules = _schema_at(spec, path).get("x-kubernetes-validations", [])
        assert any(r["rule"] == "self == oldSelf" for r in rules), (path, rules)


def test_the_api_reference_shows_the_table() -> None:
    from vmop.api.reference import render

    text = render()
    for path, rule in SPEC_TREATMENTS.items():
        assert f"| `spec.{path}` | {rule.treatment.value} |" in text
