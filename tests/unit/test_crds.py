"""The generated CRDs: committed files in sync with the models, and schemas the apiserver takes.

The apiserver's own verdict is in tests/integration/test_virtualmachine_validation.py; these are
the fast checks of what it would refuse or silently mishandle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vmop.api.crd import KINDS, KOPF_PEERING_CRDS, VIRTUAL_MACHINE, Kind, crd_files, custom_resource_definition
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus

CRDS_DIR = Path(__file__).resolve().parents[2] / "crds"
Schema = dict[str, Any]


def nodes(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its path (``.spec.disks[].name``), parents first."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def rules_of(schema: Schema) -> list[tuple[str, str]]:
    """(rule, message) of every CEL rule anywhere in a JSON schema, $defs included."""
    found: list[tuple[str, str]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for rule in value.get("x-kubernetes-validations", []):
                found.append((rule["rule"], rule["message"]))
            for key, sub in value.items():
                if key != "x-kubernetes-validations":
                    walk(sub)
        elif isinstance(value, list):
            for sub in value:
                walk(sub)

    walk(schema)
    return found


def version_of(kind: Kind) -> dict[str, Any]:
    (version,) = custom_resource_definition(kind)["spec"]["versions"]
    assert isinstance(version, dict)
    return version


def schema_of(kind: Kind) -> Schema:
    schema = version_of(kind)["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


VM_SCHEMA = schema_of(VIRTUAL_MACHINE)
VM_NODES = dict(nodes(VM_SCHEMA))
SPEC_NODES = {path: node for path, node in VM_NODES.items() if path.startswith(".spec")}


# --- the committed files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(crd_files()))
def test_committed_crd_is_up_to_date(name: str) -> None:
    path = CRDS_DIR / name
    assert path.is_file(), f"crds/{name} is missing: run `vmop crds`"
    assert path.read_text() == crd_files()[name], f"crds/{name} is out of date with the models: run `vmop crds`"


def test_no_stale_crd_files() -> None:
    committed = {p.name for p in CRDS_DIR.glob("*.y*ml")}
    expected = set(crd_files()) | set(KOPF_PEERING_CRDS)
    assert committed == expected, "crds/ holds files `vmop crds` does not write: remove them"


def test_committed_crds_parse_as_crds() -> None:
    for name, content in crd_files().items():
        document = yaml.safe_load(content)
        assert document["kind"] == "CustomResourceDefinition", name
        assert document == custom_resource_definition(next(k for k in KINDS if f"{k.plural}.yaml" == name))


# --- structural schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "nullable", "examples"])
def test_schema_is_structural_without(key: str) -> None:
    offending = [path or "<root>" for path, node in VM_NODES.items() if key in node]
    assert not offending, f"{key!r} in the schema at {offending}"


def test_no_additional_properties_false() -> None:
    offending = [path for path, node in VM_NODES.items() if node.get("additionalProperties") is False]
    assert not offending, f"additionalProperties: false (forbidden in structural schemas) at {offending}"


def test_every_node_has_a_type() -> None:
    untyped = [
        path for path, node in VM_NODES.items() if "type" not in node and not node.get("x-kubernetes-int-or-string")
    ]
    assert not untyped, f"nodes without a type (not structural): {untyped}"


def test_no_null_defaults() -> None:
    offending = [path for path, node in VM_NODES.items() if "default" in node and node["default"] is None]
    assert not offending, f"default: null at {offending}"


def test_objects_declare_properties_or_preserve_unknown_fields() -> None:
    opaque = [
        path
        for path, node in VM_NODES.items()
        if node.get("type") == "object"
        and "properties" not in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and path != ".metadata"
    ]
    assert not opaque, f"objects that would be pruned to {{}}: {opaque}"


# --- CEL rules ----------------------------------------------------------------------------------


def test_every_model_rule_reaches_the_crd() -> None:
    """Inlining a $ref must add a field's rules to its model's, not replace them."""
    from_models = Counter(
        rules_of(VirtualMachineSpec.model_json_schema(by_alias=True, mode="validation"))
        + rules_of(VirtualMachineStatus.model_json_schema(by_alias=True, mode="validation"))
    )
    in_crd = Counter(rules_of(VM_SCHEMA))
    assert in_crd == from_models, f"lost: {from_models - in_crd}, extra: {in_crd - from_models}"


def test_known_rules_are_where_they_belong() -> None:
    def messages(path: str) -> list[str]:
        return [rule["message"] for rule in VM_NODES[path].get("x-kubernetes-validations", [])]

    assert "componentCache needs linkedClone" in messages(".spec.template")
    assert "is immutable" in messages(".spec.template")
    assert "cpu.max must equal sockets * cores" in messages(".spec.cpu")
    assert "portGroup is required on a local network" in messages(".spec.interfaces[]")
    assert "template cannot be removed" in messages(".spec")


def test_rules_are_unique_per_node() -> None:
    """Server-side apply keys x-kubernetes-validations by rule: a repeated rule makes the CRD un-appliable."""
    for path, node in VM_NODES.items():
        repeated = [r for r, n in Counter(v["rule"] for v in node.get("x-kubernetes-validations", [])).items() if n > 1]
        assert not repeated, f"{path}: rules repeated {repeated}"


def test_field_paths_name_existing_fields() -> None:
    for path, node in VM_NODES.items():
        for rule in node.get("x-kubernetes-validations", []):
            if "fieldPath" in rule:
                field = rule["fieldPath"].removeprefix(".")
                assert field in node.get("properties", {}), f"{path}: fieldPath {rule['fieldPath']} names nothing"


def test_reasons_are_ones_the_apiserver_knows() -> None:
    known = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}
    reasons = {
        rule["reason"]
        for _, node in VM_NODES.items()
        for rule in node.get("x-kubernetes-validations", [])
        if "reason" in rule
    }
    assert reasons <= known
    assert "FieldValueDuplicate" not in reasons, "the apiserver drops the message of FieldValueDuplicate rules"


def test_spec_is_bounded_for_the_cel_cost_budget() -> None:
    """The apiserver estimates a rule's cost from maxItems/maxLength; unbounded lists or strings under
    a rule can push it over the budget and get the CRD refused."""
    unbounded_lists = [p for p, n in SPEC_NODES.items() if n.get("type") == "array" and "maxItems" not in n]
    unbounded_strings = [
        p for p, n in SPEC_NODES.items() if n.get("type") == "string" and "maxLength" not in n and "enum" not in n
    ]
    assert not unbounded_lists, f"arrays without maxItems: {unbounded_lists}"
    assert not unbounded_strings, f"strings without maxLength or enum: {unbounded_strings}"


def test_list_map_keys_are_required() -> None:
    """The apiserver refuses a list-map whose keys may be absent (and not defaulted)."""
    for path, node in VM_NODES.items():
        for key in node.get("x-kubernetes-list-map-keys", []):
            items = node["items"]
            assert key in items.get("required", []) or "default" in items["properties"][key], f"{path}: {key}"


def test_names_are_list_map_keys() -> None:
    for path in (".spec.disks", ".spec.interfaces"):
        assert VM_NODES[path]["x-kubernetes-list-type"] == "map"
        assert VM_NODES[path]["x-kubernetes-list-map-keys"] == ["name"]
    assert VM_NODES[".status.conditions"]["x-kubernetes-list-map-keys"] == ["type"]


# --- names, columns, subresources ----------------------------------------------------------------


def test_names_short_names_and_category() -> None:
    names = custom_resource_definition(VIRTUAL_MACHINE)["spec"]["names"]
    assert names["kind"] == "VirtualMachine"
    assert names["plural"] == "virtualmachines"
    assert "vm" in names["shortNames"]
    assert names["categories"] == ["vmop"]


def test_status_subresource() -> None:
    assert version_of(VIRTUAL_MACHINE)["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in version_of(VIRTUAL_MACHINE)["additionalPrinterColumns"]}
    for name in ("Phase", "State", "Host", "IP", "CPUs", "Memory", "Age"):
        assert name in columns, f"printer column {name} missing"
    assert columns["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert columns["CPUs"]["type"] == "integer"
    assert columns["IP"]["jsonPath"] == ".status.ips[0]"
    assert columns["Host"].get("priority") == 1  # only with -o wide


def test_printer_columns_point_at_status_fields() -> None:
    for column in version_of(VIRTUAL_MACHINE)["additionalPrinterColumns"]:
        path = column["jsonPath"]
        if path.startswith(".status."):
            field = path.removeprefix(".status.").split("[")[0].split(".")[0]
            assert f".status.{field}" in VM_NODES, f"column {column['name']} reads {path}, which the schema lacks"


def test_api_reference_is_generated_from_the_models() -> None:
    from vmop.api.reference import render

    committed = (Path(__file__).resolve().parents[2] / "docs" / "api-reference.md").read_text()
    assert committed == render(), "docs/api-reference.md is stale: run `vmop crds`"


def undescribed(schema: Schema, path: str = "") -> Iterator[str]:
    """Every property (at any depth, inside arrays and maps too) without a description. The
    top-level metadata may have none (the apiserver allows only its type; explain shows ObjectMeta's)."""
    for name, sub in schema.get("properties", {}).items():
        if not sub.get("description", "").strip() and f"{path}.{name}" != ".metadata":
            yield f"{path}.{name}"
        yield from undescribed(sub, f"{path}.{name}")
    for key, mark in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(schema.get(key), dict):
            yield from undescribed(schema[key], f"{path}{mark}")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_kubectl_explain_describes_every_property(kind: Kind) -> None:
    """`kubectl explain` shows each property's description: none may be empty (a Field
    description, or the docstring of the model it holds)."""
    missing = list(undescribed(schema_of(kind)))
    assert not missing, f"{kind.kind}: add descriptions in operator/vmop/api/ for {missing}"


def test_the_description_walk_finds_a_missing_one() -> None:
    assert list(undescribed({"properties": {"a": {"description": "x", "items": {"properties": {"b": {}}}}}})) == [
        ".a[].b"
    ]
