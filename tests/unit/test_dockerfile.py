"""The operator image's Dockerfile, read as Docker reads it (no Docker here to build it): two
stages, a pinned slim base, the final stage built from wheels only, no build tools, a numeric
non-root user, and `vmop run` as the entrypoint the chart and deploy/ rely on."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest
import yaml

from tests.support.deploy import REPO

DOCKERFILE = REPO / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "clang", "make", "build-essential", "cc ", "python3-dev", "libc-dev", "git")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with comments dropped and backslash continuations joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(args.split())))
    return found


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    result: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base, name))
        else:
            assert result, f"{keyword} before the first FROM"
            result[-1].instructions.append((keyword, rest))
    return args, result


ARGS, STAGES = stages(DOCKERFILE.read_text())
BUILDER, FINAL = STAGES[0], STAGES[-1]


def test_multi_stage_with_a_named_builder() -> None:
    assert len(STAGES) >= 2
    assert BUILDER.name == "builder"
    assert FINAL.name is None or FINAL.name != "builder"


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name or "final")
def test_base_is_a_pinned_slim_python(stage: Stage) -> None:
    """A patch release of a slim Debian image (or a digest): never latest, never a floating minor."""
    pinned = re.fullmatch(r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", stage.base)
    assert pinned or re.fullmatch(r"python@sha256:[0-9a-f]{64}", stage.base), stage.base


def test_builder_builds_wheels() -> None:
    assert any("pip wheel" in run for run in BUILDER.all("RUN"))


def test_final_stage_installs_only_the_builders_wheels() -> None:
    runs = FINAL.all("RUN")
    installs = [run for run in runs if "pip install" in run]
    assert installs, "the final stage installs vmop"
    for run in installs:
        assert "--no-index" in run, "no index: only the wheels built in the builder stage"
        assert "from=builder" in run, "the wheels come from the builder stage"
    for copy in FINAL.all("COPY") + FINAL.all("ADD"):
        assert copy.startswith("--from=builder"), f"the final stage copies nothing from the build context: {copy}"


def test_no_build_tools_in_the_final_stage() -> None:
    for run in FINAL.all("RUN"):
        assert "apt-get install" not in run and "apk add" not in run, run
        for tool in BUILD_TOOLS:
            assert tool not in f"{run} ", f"{tool.strip()} in the final stage: {run}"
    assert any("pip uninstall" in run and " pip" in run for run in FINAL.all("RUN")), "pip is removed"


def test_runs_as_numeric_non_root_user() -> None:
    users = FINAL.all("USER")
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) == 65532, "numeric, so runAsNonRoot can verify it"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # The chart's and deploy/'s securityContext run it as the same user.
    chart_values = (REPO / "charts" / "vmop" / "values.yaml").read_text()
    assert f"runAsUser: {uid}" in chart_values
    assert f"runAsUser: {uid}" in (REPO / "deploy" / "deployment.yaml").read_text()


def test_entrypoint_is_vmop_run() -> None:
    (entrypoint,) = FINAL.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["vmop", "run"], "exec form, so signals reach the operator"
    # kopf's liveness port and the metrics port: the chart's livenessPort and metrics.port defaults.
    assert FINAL.all("EXPOSE") == ["8080 8081"]
    chart_values = yaml.safe_load((REPO / "charts" / "vmop" / "values.yaml").read_text())
    assert (chart_values["livenessPort"], chart_values["metrics"]["port"]) == (8080, 8081)


def test_the_image_installs_vmop_without_the_simulator() -> None:
    """`pip install vmop`, no extras: fastapi, uvicorn and httptools come only with vmop[sim]."""
    installs = [run for run in FINAL.all("RUN") if "pip install" in run]
    assert installs and all(re.search(r"--find-links=/wheels vmop(\s|$)", run) for run in installs), installs
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    for package in ("fastapi", "uvicorn", "httptools"):
        assert package not in runtime
        assert any(d.startswith(package) for d in project["optional-dependencies"]["sim"])
    assert "vmop[sim]" in project["optional-dependencies"]["dev"]


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!operator/"} <= set(lines)
    copied = {source for copy in BUILDER.all("COPY") for source in shlex.split(copy)[:-1]}
    assert copied == {"pyproject.toml", "README.md", "operator"}, "the builder copies only what .dockerignore lets in"
