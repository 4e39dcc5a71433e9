"""The CRDs ship three ways — crds/, the chart's crds/, deploy/ (through crds/Kustomization) —
and must be the same files everywhere; `vmop crds` writes the generated ones to both folders."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import CHART, CHART_CRDS, CRDS, DEPLOY, REPO, crd_files
from vmop.api.crd import crd_files as generated_crd_files
from vmop.cli import main

SYNC_HINT = "run `vmop crds` in the checkout (it writes crds/ and charts/vmop/crds/)"


def test_chart_crds_are_the_top_level_crds_byte_for_byte() -> None:
    top, chart = crd_files(CRDS), crd_files(CHART_CRDS)
    assert sorted(chart) == sorted(top), f"charts/vmop/crds/ and crds/ hold different files: {SYNC_HINT}"
    for name, content in top.items():
        assert chart[name] == content, f"charts/vmop/crds/{name} differs from crds/{name}: {SYNC_HINT}"


def test_every_generated_crd_ships_in_the_chart() -> None:
    for name, content in generated_crd_files().items():
        assert (CHART_CRDS / name).read_text() == content, f"charts/vmop/crds/{name} is stale: {SYNC_HINT}"


@pytest.mark.parametrize("name", sorted(crd_files(CRDS)))
def test_each_crd_file_holds_one_crd(name: str) -> None:
    """The chart's crds.install template turns each file into one object (fromYaml)."""
    docs = [d for d in yaml.safe_load_all((CRDS / name).read_text()) if d]
    assert len(docs) == 1, f"crds/{name}: one CustomResourceDefinition per file"
    assert docs[0]["kind"] == "CustomResourceDefinition"
    assert docs[0]["apiVersion"] == "apiextensions.k8s.io/v1"


def test_crds_kustomization_lists_every_crd_file() -> None:
    """deploy/ takes the CRDs from crds/Kustomization (no extension, so `kubectl apply -f crds/`
    and *.yaml globs skip it); a CRD missing from its list would be missing from deploy/."""
    kustomization = yaml.safe_load((CRDS / "Kustomization").read_text())
    assert sorted(kustomization["resources"]) == sorted(crd_files(CRDS))
    assert "../crds" in yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]


def test_chart_versions() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["version"] == "0.1.0"
    assert chart["appVersion"] == project["version"], "appVersion is the vmop release the chart runs"


def test_vmop_crds_writes_the_chart_copy_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "charts" / "vmop").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main(["crds"]) == 0
    for name, content in generated_crd_files().items():
        assert (tmp_path / "crds" / name).read_text() == content
        assert (tmp_path / "charts" / "vmop" / "crds" / name).read_text() == content


def test_vmop_crds_without_a_chart_writes_only_crds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["crds"]) == 0
    assert sorted(p.name for p in (tmp_path / "crds").iterdir()) == sorted(generated_crd_files())
    assert not (tmp_path / "charts").exists()


def test_vmop_crds_output_is_repeatable(tmp_path: Path) -> None:
    assert main(["crds", "--output", str(tmp_path / "a"), "--output", str(tmp_path / "b")]) == 0
    assert crd_files(tmp_path / "a") == crd_files(tmp_path / "b") != {}


def test_vmop_crds_keeps_the_kustomization_listing_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new kind's CRD file lands in crds/Kustomization (and so in deploy/) without a hand edit;
    hand-written files of the folder (kopf's peering CRDs) stay listed, and so do the comments."""
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "kopfpeerings.yaml").write_text((CRDS / "kopfpeerings.yaml").read_text())
    (crds / "Kustomization").write_text((CRDS / "Kustomization").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["crds"]) == 0
    text = (crds / "Kustomization").read_text()
    assert text.startswith("# The CRDs as a kustomize component of deploy/")
    listed = yaml.safe_load(text)["resources"]
    assert listed == sorted(["kopfpeerings.yaml", *generated_crd_files()])
