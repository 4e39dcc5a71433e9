"""What one write costs the apiserver and etcd on this machine: CPU milliseconds per write, for the
floor's one status patch and for each of vmop's writes, on N VirtualMachines with two watches open
(vmop's and the benchmark's), 32 requests in flight. No operator runs: only these writes.

    .venv/bin/python -m bench.write_cost [--n 1000] [--out bench/results/write-cost.md]

The ratio of Ready times (bench/run.py) cannot beat the ratio of this work: every process shares
the same CPUs, and vmop needs two writes before an object is Ready (its finalizer with the create
mark before the create call, its status after) where the floor makes one.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import procs
from bench.kube import Kube, KubeConfig
from bench.run import manifests

SAMPLE = Path(__file__).with_name("vm-at-ready.json")
MERGE = {"Content-Type": "application/merge-patch+json"}
MEASURED = ("kube-apiserver", "etcd")

Write = Callable[[str], tuple[str, dict[str, Any]]]  # name -> (path, merge patch)


def writes(kube: Kube, namespace: str) -> dict[str, Write]:
    sample = json.loads(SAMPLE.read_text())
    status, finalizers = sample["status"], sample["metadata"]["finalizers"]
    news = copy.deepcopy(status)
    news["conditions"][0]["message"] = "running on host h; guest agent connected"
    floor = {  # bench/floor_operator.py's patch
        "phase": "Running",
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Available",
                "message": "marked Ready",
                "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "observedGeneration": 1,
            }
        ],
    }
    mark = {"finalizers": finalizers, "annotations": {"vmop.io/create-pending": f"{time.time():.3f}"}}

    def status_patch(body: dict[str, Any]) -> Write:
        return lambda name: (kube.path(namespace, name) + "/status", {"status": body})

    return {
        "the floor's status (Ready)": status_patch(floor),
        "vmop: finalizer and create mark (metadata)": lambda name: (kube.path(namespace, name), {"metadata": mark}),
        "vmop: status at Ready (uuid, conditions)": status_patch(status),
        "vmop: status once host and agent show": status_patch(news),
    }


async def cost(kube: Kube, pids: dict[str, int], names: list[str], write: Write) -> dict[str, float]:
    """CPU milliseconds per write of each measured process, and the seconds all writes took."""
    limit = asyncio.Semaphore(32)

    async def one(name: str) -> None:
        path, body = write(name)
        async with limit:
            response = await kube.client.patch(path, content=json.dumps(body), headers=MERGE)
        response.raise_for_status()

    before, started = procs.cpu_seconds(pids), time.monotonic()
    await asyncio.gather(*(one(name) for name in names))
    seconds = time.monotonic() - started
    await asyncio.sleep(1.0)  # the watches' sends
    after = procs.cpu_seconds(pids)
    return {name: (after[name] - before[name]) * 1000 / len(names) for name in after} | {"seconds": seconds}


async def first_listing(kube: Kube, namespace: str, *, within: float = 60.0) -> str:
    """The resourceVersion to watch from, once the CRD's storage is ready (a fresh apiserver
    answers 429 "storage is (re)initializing" at first)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return (await kube.list(namespace))[1]
        except httpx.HTTPStatusError as error:
            if error.response.status_code != 429 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def measure(n: int) -> list[tuple[str, dict[str, float]]]:
    from vmop.dev.binaries import ensure_binaries
    from vmop.dev.controlplane import start

    state = Path(tempfile.mkdtemp(prefix="vmop-write-cost-"))
    plane = await asyncio.to_thread(start, state / "plane", ensure_binaries())
    pids = {p.name: p.pid for p in plane.processes if p.name in MEASURED}
    kube = Kube(KubeConfig.load(plane.kubeconfig))
    namespace = "write-cost"
    try:
        await kube.create_namespace(namespace)
        version = await first_listing(kube, namespace)
        watches = [asyncio.create_task(kube.watch(namespace, version, lambda kind, obj: None)) for _ in range(2)]
        objects = manifests(n, namespace)
        before = procs.cpu_seconds(pids)
        await kube.apply_many(namespace, objects)
        await asyncio.sleep(1.0)
        after = procs.cpu_seconds(pids)
        rows = [("the benchmark's apply (server-side)", {k: (after[k] - before[k]) * 1000 / n for k in after})]
        names = [obj["metadata"]["name"] for obj in objects]
        for label, write in writes(kube, namespace).items():
            rows.append((label, await cost(kube, pids, names, write)))
        for watch in watches:
            watch.cancel()
        return rows
    finally:
        await kube.aclose()
        plane.stop()


def table(n: int, rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        f"# CPU per write: {n:,} VirtualMachines, 2 watches, {time.strftime('%Y-%m-%d')}",
        "",
        "`python -m bench.write_cost`: every process shares this machine's CPUs.",
        "",
        "| write | kube-apiserver ms | etcd ms |",
        "|---|--:|--:|",
    ]
    lines += [f"| {label} | {row['kube-apiserver']:.1f} | {row['etcd']:.1f} |" for label, row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = table(args.n, asyncio.run(measure(args.n)))
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
