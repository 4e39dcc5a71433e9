"""vmop's scale benchmark, one command:

    .venv/bin/python -m bench.run                 # N = 10, 100, 1000
    .venv/bin/python -m bench.run --large         # and 3000 and 10000
    .venv/bin/python -m bench.run --sizes 10,100  # just these

It starts a fresh control plane (etcd, kube-apiserver, kube-controller-manager) in a temporary
directory, and for each N: the kopf floor operator on a fresh namespace (apply N, all Ready, delete
all), then a fresh `vmop sim` with injected latency and boot time and a fresh `vmop run` on another
namespace (apply N, all Ready, steady state over several resync periods, delete all). Results go to
bench/results/: results.json, report.md and plot.png. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `vmop` importable
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "operator")]

import httpx
import yaml

from bench import procs
from bench.kube import Kube, KubeConfig, RequestKey, refused_counts, request_counts
from bench.report import render
from bench.tracker import Tracker, summary

REPO = Path(__file__).resolve().parents[1]
CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"  # the simulator's seed, as in the example
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"
WRITES = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
DEFAULT_SIZES = (10, 100, 1000)
OTHERS: dict[str, int] = {}  # name -> pid: etcd, kube-apiserver, the simulator of the moment


# ---------------------------------------------------------------------------- measurements


@dataclass
class Snapshot:
    at: float
    requests: Counter[RequestKey]
    own: Counter[RequestKey]
    compute: Counter[str]
    cpu_seconds: float | None
    others: dict[str, float]  # CPU seconds of the other processes on the machine
    refused: Counter[RequestKey]  # the answers of 400 and above, by (verb, resource, code)


async def snapshot(kube: Kube, sim_url: str | None, child: procs.Child | procs.Shards | None) -> Snapshot:
    metrics_text = await kube.metrics()
    requests = request_counts(metrics_text)
    compute: Counter[str] = Counter()
    if sim_url is not None:
        async with httpx.AsyncClient(timeout=10) as client:
            compute.update((await client.get(f"{sim_url}/sim/stats")).json()["calls"])
    cpu = child.usage().cpu_seconds if child is not None else None
    others = procs.cpu_seconds(OTHERS)
    return Snapshot(time.time(), requests, copy.copy(kube.own), compute, cpu, others, refused_counts(metrics_text))


def _key(key: RequestKey) -> str:
    verb, resource, subresource = key
    return f"{verb} {resource}/{subresource}" if subresource else f"{verb} {resource}"


def window(start: Snapshot, end: Snapshot) -> dict[str, Any]:
    """What happened between two snapshots: the operator's Kubernetes requests (the benchmark's own
    taken out), compute calls by endpoint, CPU seconds."""
    kube: dict[str, int] = {}
    for key in set(end.requests) | set(start.requests):
        own = end.own[key] - start.own[key]
        count = end.requests[key] - start.requests[key] - own
        if count > 0:
            kube[_key(key)] = count
    compute = {name: end.compute[name] - start.compute[name] for name in end.compute}
    compute = {name: count for name, count in compute.items() if count > 0}
    writes = sum(count for name, count in kube.items() if name.split()[0] in WRITES)
    cpu = end.cpu_seconds - start.cpu_seconds if end.cpu_seconds is not None and start.cpu_seconds is not None else None
    refused = {" ".join(key): end.refused[key] - start.refused[key] for key in end.refused}
    return {
        "seconds": round(end.at - start.at, 3),
        "kube_requests": dict(sorted(kube.items())),
        # The benchmark's own included (its namespace's 409 if it exists): why a count is higher.
        "kube_refused": {key: count for key, count in sorted(refused.items()) if count > 0},
        "kube_total": sum(kube.values()),
        "kube_writes": writes,
        "compute_calls": dict(sorted(compute.items())),
        "compute_total": sum(compute.values()),
        "cpu_seconds": round(cpu, 2) if cpu is not None else None,
        "cpu_seconds_others": {k: round(v - start.others[k], 2) for k, v in end.others.items() if k in start.others},
    }


async def quiet(sim_url: str, *, settle: float, within: float) -> None:
    """Wait ``settle`` seconds, then until the simulator has seen no call for two seconds."""
    await asyncio.sleep(settle)
    deadline = time.monotonic() + within
    last = -1
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            total = int((await client.get(f"{sim_url}/sim/stats")).json()["total"])
            if total == last:
                return
            last = total
            await asyncio.sleep(2.0)


async def list_rounds(sim_url: str, rounds: int, *, period: float, gap: float = 2.0) -> None:
    """Until the simulator has answered ``rounds`` more platform lists (a round: list calls, then
    none for ``gap`` seconds), or for ``rounds + 1`` periods at most. A steady window between two
    such moments holds whole lists only: one that merely began before its end (a page or two of
    the next round) does not count as a list more per period."""
    deadline = time.monotonic() + (rounds + 1) * period
    done, last, changed = 0, None, None
    async with httpx.AsyncClient(timeout=10) as client:
        while done < rounds and time.monotonic() < deadline:
            lists = int((await client.get(f"{sim_url}/sim/stats")).json()["calls"].get("list", 0))
            now = time.monotonic()
            if last is not None and lists != last:
                changed = now
            elif changed is not None and now - changed >= gap:
                done, changed = done + 1, None
            last = lists
            await asyncio.sleep(0.1)


# examples/10-web.yaml as it was when the benchmark was written (that example has since joined a
# VmGroup): kept here so the benchmark measures the same object whatever the examples become.
TEMPLATE = f"""
apiVersion: vmop.io/v1alpha1
kind: VirtualMachine
metadata: {{name: web-1}}
spec:
  cluster: {CLUSTER}
  tenant: {TENANT}
  os: CentOS x64
  cpu: {{sockets: 1, cores: 2}}
  memory: 4Gi
  disks:
    - {{name: system, bus: scsi, size: 20Gi, pool: 42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df}}
  interfaces:
    - {{name: eth0, network: ycb123, portGroup: 239223b4-d21b-4b23-954f-796f17c75c49, vlanIds: [14]}}
  bootOrder: [system, eth0]
  powerState: Running
  shutdownTimeoutSeconds: 60
  updatePolicy: OnPowerCycle
"""


async def warm_up(
    kube: Kube, sim_url: str, child: procs.Child | procs.Shards, period: float, *, most_periods: int = 20
) -> Snapshot:
    """At least one resync period, and on until vmop has written nothing to Kubernetes for a whole
    one (at most ``most_periods``: writes that never stop then show in the steady state)."""
    began = last_write = time.monotonic()
    previous = await snapshot(kube, sim_url, child)
    while True:
        await asyncio.sleep(period / 6)
        current = await snapshot(kube, sim_url, child)
        now = time.monotonic()
        if window(previous, current)["kube_writes"]:
            last_write = now
        previous = current
        if (now - last_write >= period and now - began >= period) or now - began >= most_periods * period:
            return current


def manifests(n: int, namespace: str) -> list[dict[str, Any]]:
    template = yaml.safe_load(TEMPLATE)
    objects = []
    for i in range(n):
        obj = copy.deepcopy(template)
        obj["metadata"] = {"name": f"vm-{i:05d}", "namespace": namespace}
        objects.append(obj)
    return objects


def _round(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: round(v, 3) if v is not None else None for k, v in values.items()}


def ready_result(tracker: Tracker, n: int, started: float, applied: float, timed_out: bool) -> dict[str, Any]:
    last_ready = tracker.last("ready")
    return {
        "apply_seconds": round(applied - started, 3),
        "all_ready_seconds": round(last_ready - started, 3) if last_ready and not timed_out else None,
        "ready_count": tracker.ready_count,
        "timed_out": timed_out,
        "per_object_seconds": _round(summary(tracker.ready_latencies())),
        "per_object_server_seconds": _round(summary(tracker.server_latencies())),
        "object_writes_to_ready": tracker.writes_to_ready(),
        "over_two_writes_to_ready": tracker.outliers(2),  # the floor writes once
        "n": n,
    }


@contextlib.asynccontextmanager
async def watching(kube: Kube, namespace: str, tracker: Tracker) -> Any:
    items, version = await kube.list(namespace)
    for obj in items:
        tracker.on_event("ADDED", obj)
    task = asyncio.create_task(kube.watch(namespace, version, tracker.on_event))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task


async def apply_and_wait(
    kube: Kube, namespace: str, n: int, tracker: Tracker, *, concurrency: int, within: float
) -> dict[str, Any]:
    started = time.time()
    applied_times = await kube.apply_many(namespace, manifests(n, namespace), concurrency=concurrency)
    applied = time.time()
    tracker.applied(applied_times)
    timed_out = False
    try:
        await tracker.wait("ready_count", n, within=within, what=f"{namespace}: Ready")
    except TimeoutError as error:
        print(f"  !! {error}", flush=True)
        timed_out = True
    return ready_result(tracker, n, started, applied, timed_out)


async def delete_and_wait(kube: Kube, namespace: str, n: int, tracker: Tracker, *, within: float) -> dict[str, Any]:
    started = time.time()
    await kube.delete_all(namespace)
    timed_out = False
    try:
        await tracker.wait("deleted_count", n, within=within, what=f"{namespace}: deleted")
    except TimeoutError as error:
        print(f"  !! {error}", flush=True)
        timed_out = True
    last = tracker.last("deleted")
    left, _ = await kube.list(namespace)
    return {
        "all_gone_seconds": round(last - started, 3) if last and not timed_out else None,
        "deleted_count": tracker.deleted_count,
        "objects_left": len(left),
        "timed_out": timed_out,
    }


async def phases(kube: Kube, namespace: str) -> dict[str, int]:
    """How many objects stand in which phase (and Ready reason): all should be Running/Available."""
    items, _ = await kube.list(namespace)
    census: Counter[str] = Counter()
    for obj in items:
        status = obj.get("status") or {}
        ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        census[f"{status.get('phase')}/{ready.get('reason')}"] += 1
    return dict(sorted(census.items()))


# ---------------------------------------------------------------------------- one N


@dataclass
class Options:
    latency_ms: float
    boot_seconds: float
    resync_seconds: float
    steady_periods: int
    page_size: int
    max_concurrency: int
    apply_concurrency: int
    operator_args: list[str]
    shards: int
    profile: bool
    out: Path
    logs: Path

    def timeout(self, n: int) -> float:
        return max(120.0, 0.6 * n)


async def run_floor(kube: Kube, kubeconfig: Path, n: int, opts: Options) -> dict[str, Any]:
    namespace = f"bench-floor-{n}"
    await kube.create_namespace(namespace)
    child = await asyncio.to_thread(procs.start_floor, opts.logs, kubeconfig, namespace)
    tracker = Tracker()
    try:
        await asyncio.sleep(2.0)  # its first list and watch are done
        async with watching(kube, namespace, tracker):
            before = await snapshot(kube, None, child)
            ready = await apply_and_wait(
                kube, namespace, n, tracker, concurrency=opts.apply_concurrency, within=opts.timeout(n)
            )
            await asyncio.sleep(3.0)
            after_ready = await snapshot(kube, None, child)
            deletion = await delete_and_wait(kube, namespace, n, tracker, within=opts.timeout(n))
            after_delete = await snapshot(kube, None, child)
        return {
            "ready": ready,
            "create": window(before, after_ready),
            "delete": deletion | {"window": window(after_ready, after_delete)},
            "usage": child.usage().to_json(),
        }
    finally:
        child.stop()
        await kube.delete_namespace(namespace)


async def run_vmop(kube: Kube, kubeconfig: Path, n: int, opts: Options) -> dict[str, Any]:
    namespace = f"bench-vm-{n}"
    sim, sim_url = await asyncio.to_thread(
        procs.start_sim, opts.logs, latency_ms=opts.latency_ms, boot_seconds=opts.boot_seconds
    )
    OTHERS["vmop sim"] = sim.pid
    await kube.create_namespace(namespace)
    extra = ["--page-size", str(opts.page_size), "--max-concurrency", str(opts.max_concurrency), *opts.operator_args]
    child: procs.Child | procs.Shards
    if opts.shards > 1:
        child = await asyncio.to_thread(
            procs.start_shards,
            opts.logs,
            kubeconfig,
            sim_url,
            namespace,
            shards=opts.shards,
            resync_seconds=opts.resync_seconds,
            extra=extra,
        )
    else:
        child = await asyncio.to_thread(
            procs.start_vmop, opts.logs, kubeconfig, sim_url, namespace, resync_seconds=opts.resync_seconds, extra=extra
        )
    tracker = Tracker()
    profiler: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.sleep(2.0)
        usage_idle = child.usage()  # started, watching an empty namespace
        platform_before = int(procs.sim_stats(sim_url)["vms"])
        scope_before = procs.scope_vms(sim_url, CLUSTER, TENANT)  # the seed's VMs share the scope
        async with watching(kube, namespace, tracker):
            before = await snapshot(kube, sim_url, child)
            if opts.profile:
                profiler = procs.start_profiler(child.pid, opts.out / f"profile-create-{n}.json")
            print(f"  vmop: applying {n}", flush=True)
            ready = await apply_and_wait(
                kube, namespace, n, tracker, concurrency=opts.apply_concurrency, within=opts.timeout(n)
            )
            print(f"  vmop: ready {ready['ready_count']}/{n} in {ready['all_ready_seconds']}s", flush=True)
            await quiet(sim_url, settle=5.0, within=120.0)
            if profiler is not None:
                await asyncio.to_thread(procs.stop_profiler, profiler)
            after_ready = await snapshot(kube, sim_url, child)
            usage_ready = child.usage()
            # What creating set going (the guests' boots and agents, the looks for them that wait
            # behind the creates) is written once each. Steady state starts after it.
            print(f"  vmop: warm-up, until a resync period ({opts.resync_seconds:.0f}s) without a write", flush=True)
            after_warmup = await warm_up(kube, sim_url, child, opts.resync_seconds)
            await list_rounds(sim_url, 1, period=opts.resync_seconds)
            steady_start = await snapshot(kube, sim_url, child)
            print(f"  vmop: steady state for {opts.steady_periods} platform lists", flush=True)
            await list_rounds(sim_url, opts.steady_periods, period=opts.resync_seconds)
            after_steady = await snapshot(kube, sim_url, child)
            census = await phases(kube, namespace)
            # The status once host and guest agent show is one write after Ready; more is a finding.
            rewritten = {"objects": tracker.rewritten_count(1), "first": tracker.rewritten(1)}
            print("  vmop: deleting", flush=True)
            deletion = await delete_and_wait(kube, namespace, n, tracker, within=opts.timeout(n))
            print(f"  vmop: all gone in {deletion['all_gone_seconds']}s", flush=True)
            await quiet(sim_url, settle=1.0, within=60.0)
            after_delete = await snapshot(kube, sim_url, child)
        steady = window(steady_start, after_steady)
        periods = steady["seconds"] / opts.resync_seconds
        steady["periods"] = round(periods, 2)
        steady["compute_per_period"] = round(steady["compute_total"] / periods, 2)
        steady["list_calls_per_period"] = round(steady["compute_calls"].get("list", 0) / periods, 2)
        steady["kube_writes_per_period"] = round(steady["kube_writes"] / periods, 2)
        steady["scope_vms"] = n + scope_before
        steady["list_calls_target"] = math.ceil((n + scope_before) / opts.page_size)
        return {
            "ready": ready,
            "create": window(before, after_ready),
            "warmup": window(after_ready, after_warmup),
            "steady": steady,
            "delete": deletion
            | {
                "window": window(after_steady, after_delete),
                "platform_vms_before": platform_before,
                "platform_vms_after": int(procs.sim_stats(sim_url)["vms"]),
            },
            "phases_after_steady": census,
            "written_more_than_once_after_ready": rewritten,
            "usage": child.usage().to_json(),
            "usage_at_ready": usage_ready.to_json(),
            "usage_idle": usage_idle.to_json(),
            "log": str(child.log),
        }
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        try:  # while vmop still runs: what a failed run left behind waits for its finalizers
            await kube.delete_namespace(namespace)
        finally:
            child.stop()
            sim.stop()


# ---------------------------------------------------------------------------- the whole run


def machine() -> dict[str, Any]:
    import kopf

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    import os

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "kopf": getattr(kopf, "__version__", "?"),
        "platform": platform.platform(),
    }


async def bench(sizes: list[int], opts: Options, include_floor: bool) -> dict[str, Any]:
    from vmop.dev.binaries import ensure_binaries
    from vmop.dev.controlplane import start

    state = Path(tempfile.mkdtemp(prefix="vmop-bench-"))
    opts.logs = state / "logs"
    opts.logs.mkdir()
    print(f"control plane and logs in {state}", flush=True)
    plane = await asyncio.to_thread(start, state / "plane", ensure_binaries())
    OTHERS.update({p.name: p.pid for p in plane.processes if p.name in ("etcd", "kube-apiserver")})
    kube = Kube(KubeConfig.load(plane.kubeconfig))
    version = json.loads(plane.kubectl("version", "-o", "json").stdout).get("serverVersion", {}).get("gitVersion")
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine() | {"kubernetes": version},
        "settings": {
            "latency_ms": opts.latency_ms,
            "boot_seconds": opts.boot_seconds,
            "resync_seconds": opts.resync_seconds,
            "steady_periods": opts.steady_periods,
            "page_size": opts.page_size,
            "max_concurrency": opts.max_concurrency,
            "apply_concurrency": opts.apply_concurrency,
            "operator_args": opts.operator_args,
            "shards": opts.shards,
        },
        "sim_floor_seconds": {
            "create_start": round(2 * opts.latency_ms / 1000, 3),
            "create_start_boot": round(2 * opts.latency_ms / 1000 + opts.boot_seconds, 3),
        },
        "runs": [],
    }
    try:
        for n in sizes:
            run: dict[str, Any] = {"n": n}
            if include_floor:
                print(f"N={n}: kopf floor", flush=True)
                run["floor"] = await run_floor(kube, plane.kubeconfig, n, opts)
                print(f"  floor: ready in {run['floor']['ready']['all_ready_seconds']}s", flush=True)
            print(f"N={n}: vmop", flush=True)
            run["vmop"] = await run_vmop(kube, plane.kubeconfig, n, opts)
            results["runs"].append(run)
            (opts.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    finally:
        await kube.aclose()
        plane.stop()
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["logs"] = str(opts.logs)
    return results


def parse_sizes(text: str) -> list[int]:
    return [int(part) for part in text.replace(" ", "").split(",") if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES), help="comma-separated N values")
    parser.add_argument("--large", action="store_true", help="add N=3000 and N=10000")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator latency per compute call")
    parser.add_argument("--boot-seconds", type=float, default=1.0, help="simulated guest boot time")
    parser.add_argument("--resync-seconds", type=float, default=30.0)
    parser.add_argument(
        "--steady-periods", type=int, default=3, help="resync periods (platform lists) observed with nothing changing"
    )
    parser.add_argument("--page-size", type=int, default=500, help="vmop run --page-size")
    parser.add_argument("--max-concurrency", type=int, default=16, help="vmop run --max-concurrency")
    parser.add_argument("--apply-concurrency", type=int, default=32, help="apply requests in flight")
    parser.add_argument("--operator-arg", action="append", default=[], help="more `vmop run` arguments (repeatable)")
    parser.add_argument(
        "--shards", type=int, default=1, help="run vmop as this many shard processes (memory: the largest one's)"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the kopf floor (no ratios in the report)")
    parser.add_argument("--profile", action="store_true", help="py-spy the operator while it creates (speedscope)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes + ([3000, 10000] if args.large else [])))
    args.out.mkdir(parents=True, exist_ok=True)
    opts = Options(
        latency_ms=args.latency_ms,
        boot_seconds=args.boot_seconds,
        resync_seconds=args.resync_seconds,
        steady_periods=args.steady_periods,
        page_size=args.page_size,
        max_concurrency=args.max_concurrency,
        apply_concurrency=args.apply_concurrency,
        operator_args=args.operator_arg,
        shards=args.shards,
        profile=args.profile,
        out=args.out,
        logs=args.out,
    )
    results = asyncio.run(bench(sizes, opts, include_floor=not args.no_floor))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    render(results, args.out)
    print(f"wrote {args.out / 'results.json'}, {args.out / 'report.md'}, {args.out / 'plot.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
