"""Memory of the engine's store per VirtualMachine: the view of one object as the watch parses it,
10,000 times with unique names and ids (bench/vm-at-ready.json: a VM vmop made Ready, its managed
fields left out), measured with tracemalloc.

    .venv/bin/python -m bench.view_memory
"""

from __future__ import annotations

import gc
import json
import tracemalloc
import uuid
from pathlib import Path

from vmop.controller.objects import ObjectView, view_of

N = 10_000
SAMPLE = Path(__file__).with_name("vm-at-ready.json")


def bodies() -> list[str]:
    text = SAMPLE.read_text()
    sample = json.loads(text)
    unique = [
        sample["metadata"]["name"],
        sample["metadata"]["uid"],
        sample["status"]["uuid"],
        *sample["status"]["volumes"],
    ]
    made = []
    for index in range(N):
        one = text
        for value in unique:
            one = one.replace(value, f"{index:05}" + str(uuid.uuid4())[5:])
        made.append(one)
    return made


def main() -> None:
    texts = bodies()
    tracemalloc.start()
    gc.collect()
    before = tracemalloc.take_snapshot()
    views: list[ObjectView] = [view_of(json.loads(text)) for text in texts]
    gc.collect()
    after = tracemalloc.take_snapshot()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(f"{len(views):,} views: {size / len(views) / 1024:.1f} KiB each, {size / 2**20:.0f} MiB in all")


if __name__ == "__main__":
    main()
