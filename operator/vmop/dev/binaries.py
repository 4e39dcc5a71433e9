"""Real Kubernetes binaries built from Go modules and cached outside the checkout.

No Docker engine and no binary downloads here, but the Go module proxy answers, so
kube-apiserver, kube-controller-manager, kubectl, etcd and helm are compiled once with the
ordinary ``go`` client and kept in ``~/.cache/vmop/k8s-<version>/`` (keyed by every pinned
version, so a version bump rebuilds and nothing else does). promtool, which checks the chart's
alert rules, is built the same way into ``~/.cache/vmop/promtool-<version>/``, on first use only.
See docs/development.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
HELM_VERSION = "v3.22.0"
# etcd follows the version Kubernetes itself pins (its go.mod requires etcd's client at it).
KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kubectl")
ALL_BINARIES = (*KUBE_BINARIES, "etcd", "helm")
# Prometheus' Go module versions are v0.<3 + minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_MODULE_VERSION = "v0.316.0"
PROMTOOL = "github.com/prometheus/prometheus/cmd/promtool"


class BuildError(RuntimeError):
    """A binary could not be built; the message names the step and its log."""


@dataclass(frozen=True)
class Binaries:
    """Where each control-plane binary lives."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def missing(self) -> list[str]:
        return [name for name in ALL_BINARIES if not os.access(self.path(name), os.X_OK)]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmop"


def cache_dir() -> Path:
    return cache_root() / f"k8s-{KUBERNETES_VERSION}-helm-{HELM_VERSION}"


def locate() -> Binaries:
    """Binaries from ``KUBEBUILDER_ASSETS`` when set (envtest's convention), else the cache."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        return Binaries(Path(assets))
    return Binaries(cache_dir())


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    env["CGO_ENABLED"] = "0"
    return env


def run_step(cmd: list[str], cwd: Path, log: Path, step: str, env: dict[str, str] | None = None) -> str:
    """Run one build step (``go_env()`` unless ``env`` is given), its output appended to ``log``."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env or go_env(), stdout=subprocess.PIPE, stderr=out, text=True)
        out.write(proc.stdout)
    if proc.returncode != 0:
        raise BuildError(f"{step} failed (exit {proc.returncode}); see {log}")
    return proc.stdout


def _module_gomod(module: str, version: str, work: Path, log: Path) -> str:
    info = json.loads(
        run_step(["go", "mod", "download", "-json", f"{module}@{version}"], work, log, f"download {module}")
    )
    return Path(info["GoMod"]).read_text()


def staging_modules(kubernetes_gomod: str) -> list[str]:
    """The staging modules, which k8s.io/kubernetes requires at the non-existent v0.0.0.

    Read from its ``replace`` block (every staging module is replaced by ``./staging/src/...``
    there, required directly or ``// indirect``), so no module is missed.
    """
    found = re.findall(r"^\s*(k8s\.io/[\w.\-/]+) => \./staging/src/\S+\s*$", kubernetes_gomod, re.MULTILINE)
    return sorted(set(found))


def etcd_version(kubernetes_gomod: str) -> str:
    match = re.search(r"go\.etcd\.io/etcd/client/v3 (v3\.[\w.\-]+)", kubernetes_gomod)
    if not match:
        raise BuildError("cannot find the etcd version pinned by k8s.io/kubernetes")
    return match.group(1)


def kubernetes_wrapper_gomod(kubernetes_gomod: str, version: str) -> str:
    """go.mod of a module that builds k8s.io/kubernetes@version's commands.

    Each staging module is pinned to its published tag (k8s v1.X.Y ships staging v0.X.Y), and
    the go line follows the release's, so the Go toolchain requirement is the release's own.
    """
    staging_version = "v0." + version.lstrip("v").split(".", 1)[1]
    go_line = re.search(r"^go (\S+)", kubernetes_gomod, re.MULTILINE)
    if not go_line:
        raise BuildError(f"no go line in the go.mod of k8s.io/kubernetes {version}")
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in staging_modules(kubernetes_gomod))
    return (
        f"module vmop.local/k8sbuild\n\ngo {go_line.group(1)}\n\n"
        f"require k8s.io/kubernetes {version}\n\nreplace (\n{replaces}\n)\n"
    )


def _ldflags_kube(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return "-s -w " + " ".join(stamps)


def _build_kubernetes(work: Path, out: Path, log: Path) -> str:
    mod = work / "kubernetes"
    mod.mkdir()
    gomod = _module_gomod("k8s.io/kubernetes", KUBERNETES_VERSION, mod, log)
    (mod / "go.mod").write_text(kubernetes_wrapper_gomod(gomod, KUBERNETES_VERSION))
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBE_BINARIES]
    run_step(["go", "get", *[f"{p}@{KUBERNETES_VERSION}" for p in packages]], mod, log, "resolve kubernetes")
    # One invocation with -o DIR/: the three links run in parallel and share the build cache.
    run_step(
        ["go", "build", "-trimpath", "-ldflags", _ldflags_kube(KUBERNETES_VERSION), "-o", f"{out}/", *packages],
        mod,
        log,
        "build " + ", ".join(KUBE_BINARIES),
    )
    return etcd_version(gomod)


def _build_etcd(version: str, work: Path, out: Path, log: Path) -> None:
    # etcd's server/go.mod has relative replaces, so `go install ...@v` fails; build its main
    # package from a wrapper module instead.
    mod = work / "etcd"
    mod.mkdir()
    (mod / "go.mod").write_text("module vmop.local/etcdbuild\n\ngo 1.24\n")
    run_step(["go", "get", f"go.etcd.io/etcd/server/v3@{version}"], mod, log, "resolve etcd")
    ldflags = f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={version}"
    run_step(
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3"],
        mod,
        log,
        "build etcd",
    )


def _go_install(package: str, ldflags: str, work: Path, out: Path, log: Path) -> None:
    """``go install package@version`` (a module without replace directives) into ``out``."""
    env_out = work / "gobin"
    env_out.mkdir()
    cmd = ["go", "install", "-trimpath", "-ldflags", ldflags, package]
    with log.open("a") as f:
        f.write(f"\n$ GOBIN={env_out} {' '.join(cmd)}\n")
    env = go_env() | {"GOBIN": str(env_out)}
    env.pop("GOFLAGS", None)
    with log.open("a") as f:
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=f, stderr=f)
    if proc.returncode != 0:
        raise BuildError(f"build {package} failed (exit {proc.returncode}); see {log}")
    for built in env_out.iterdir():
        shutil.move(str(built), out / built.name)


def _build_helm(work: Path, out: Path, log: Path) -> None:
    ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"
    _go_install(f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}", ldflags, work, out, log)


def _build(missing: list[str], target: Path, progress: bool) -> None:
    log = target / "build.log"
    if progress:
        print(
            f"vmop: building {', '.join(missing)} from Go modules into {target} "
            f"(first time only, 10-30 min; log: {log})",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="vmop-k8sbuild-") as tmp:
        work = Path(tmp)
        staged = work / "out"
        staged.mkdir()
        if any(name in missing for name in (*KUBE_BINARIES, "etcd")):
            etcd = _build_kubernetes(work, staged, log)
            if "etcd" in missing:
                _build_etcd(etcd, work, staged, log)
        if "helm" in missing:
            _build_helm(work, staged, log)
        for built in staged.iterdir():
            os.replace(built, target / built.name)  # atomic: a half-built file is never seen


@contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """Held while building into ``directory`` (created if need be): a `vmop dev up` and a test
    session starting together must not both spend the cold build time; the second waits here,
    then finds the build done."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_binaries(progress: bool = True) -> Binaries:
    """Return the binaries, building whatever is missing into the cache first."""
    binaries = locate()
    missing = binaries.missing()
    if not missing:
        return binaries
    if os.environ.get("KUBEBUILDER_ASSETS"):
        raise BuildError(f"KUBEBUILDER_ASSETS={binaries.directory} lacks {', '.join(missing)}")
    if shutil.which("go") is None:
        raise BuildError("Go is needed to build the control plane binaries and was not found on PATH")
    target = binaries.directory
    with build_lock(target):
        missing = binaries.missing()
        if missing:
            _build(missing, target, progress)
    still_missing = binaries.missing()
    if still_missing:
        raise BuildError(f"build finished but {', '.join(still_missing)} missing; see {target / 'build.log'}")
    return binaries


def promtool_path() -> Path:
    return cache_root() / f"promtool-{PROMETHEUS_MODULE_VERSION}" / "promtool"


def ensure_promtool(progress: bool = True) -> Path:
    """promtool, built from Prometheus' module into the cache first if missing (measured: 12
    minutes on 2 cores shared at a load of 8, once; 25 s when Go's build cache is warm)."""
    path = promtool_path()
    if os.access(path, os.X_OK):
        return path
    if shutil.which("go") is None:
        raise BuildError("Go is needed to build promtool and was not found on PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.parent / "build.log"
    with (path.parent / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(path, os.X_OK):
            if progress:
                print(f"vmop: building promtool from Go modules into {path.parent} (once; log: {log})", file=sys.stderr)
            version = "3." + PROMETHEUS_MODULE_VERSION.removeprefix("v0.3")
            ldflags = f"-s -w -X github.com/prometheus/common/version.Version={version}"
            with tempfile.TemporaryDirectory(prefix="vmop-promtool-") as tmp:
                staged = Path(tmp) / "out"
                staged.mkdir()
                _go_install(f"{PROMTOOL}@{PROMETHEUS_MODULE_VERSION}", ldflags, Path(tmp), staged, log)
                os.replace(staged / "promtool", path)  # atomic: a half-built file is never seen
    return path
