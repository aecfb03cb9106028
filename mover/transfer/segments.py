"""The segmented engine's files and ranges (mover.transfer.segmented runs them).

A big file is split into ranges of ``segment_size`` (which depends on the
size only, so a re-run resumes whatever its settings); a small file is one
range and goes into a batch with others.
"""

import threading
from dataclasses import dataclass, field
from typing import Set, Tuple

from mover import partial
from mover.endpoints.sftp_raw import CHUNK

MIN_SEGMENT = partial.RANGED_FROM // 2   # 8 MiB: a file under twice this is one range
MAX_SEGMENT = 64 * 1024 * 1024
SMALL = 4 * CHUNK               # a file up to this size goes into a batch


@dataclass
class File:
    """One file of the job and the state of its ranges (guarded by ``lock``)."""

    rel: str
    size: int
    src: str
    dst: str
    segment: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    skip: bool = False
    done: Set[int] = field(default_factory=set)

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.segment))

    @property
    def tmp(self) -> str:
        return partial.path(self.dst)

    @property
    def small(self) -> bool:
        return self.count == 1 and self.size <= SMALL

    def bounds(self, index: int) -> Tuple[int, int]:
        return index * self.segment, min(self.size, (index + 1) * self.segment)


@dataclass
class Result:
    """What a run did: bytes and ranges moved, files already in place, workers."""

    bytes_moved: int = 0
    ranges_moved: int = 0
    files_skipped: int = 0
    connections: int = 0


def segment_size(size: int) -> int:
    """Return the range size for a file of ``size`` bytes: about 1/16 of it, in MiB,
    from MIN_SEGMENT to MAX_SEGMENT; a file under 2 * MIN_SEGMENT is one range.

    It depends on the size only, so a re-run with other settings still resumes.
    """
    if size < 2 * MIN_SEGMENT:
        return max(size, 1)
    wanted = -(-size // (16 << 20)) << 20
    return min(MAX_SEGMENT, max(MIN_SEGMENT, wanted))
