"""Which process handles which objects when they are split over ``--shards`` processes.

A key's shard is a stable hash (crc32, the same in every process and Python) of its namespace
and name, modulo the shard count. By name rather than uid: a VmMigration is handled by the shard
of its VirtualMachine, and its ``vmRef`` names the VM, which need not be in the store yet (a uid
would be known only once it is). Every process still watches, and stores, every object: a pass
reads the objects of other shards it depends on (a VM's claimants, a group's members), it only
never acts on them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from vmop.engine.store import Key


def shard_of(key: Key, shards: int) -> int:
    namespace, name = key
    return zlib.crc32(f"{namespace}/{name}".encode()) % shards


@dataclass(frozen=True)
class Shard:
    count: int = 1
    index: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is not within 0..{self.count - 1}")

    def owns(self, key: Key) -> bool:
        return self.count == 1 or shard_of(key, self.count) == self.index
