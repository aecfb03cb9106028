"""The benchmark's data sets: one big file, many small files, a season."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

MiB = 1024 * 1024


@dataclass(frozen=True)
class DataSet:
    """``count`` files of ``size`` bytes under folder ``name`` (``pattern`` % i)."""

    name: str
    count: int
    size: int
    pattern: str

    @property
    def items(self) -> Tuple[Tuple[str, int], ...]:
        """Return (relative path, size) of every file, as a Job wants them."""
        return tuple((self.pattern % (i + 1) if "%" in self.pattern else self.pattern,
                      self.size) for i in range(self.count))

    @property
    def total(self) -> int:
        return self.count * self.size

    def describe(self) -> str:
        if self.count == 1:
            return f"1 file of {self.size / MiB:.0f} MiB"
        unit = f"{self.size // 1024} KiB" if self.size < MiB else f"{self.size / MiB:.0f} MiB"
        return f"{self.count} files of {unit}"


def data_sets(big_mib: int, small_count: int, small_kib: int, season_count: int,
              season_mib: int) -> List[DataSet]:
    """Return the three data sets with the given sizes."""
    return [DataSet("big", 1, big_mib * MiB, "big.bin"),
            DataSet("small", small_count, small_kib * 1024, "f%05d.bin"),
            DataSet("season", season_count, season_mib * MiB, "Show.S01E%02d.mkv")]


def make(data: DataSet, root: Path) -> Path:
    """Create ``data`` under ``root``/name (random bytes) unless it is already there.

    Return the folder. Files of the right size are kept from an earlier run.
    """
    folder = root / data.name
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {rel for rel, _ in data.items}
    for stale in folder.iterdir():
        if stale.name not in wanted:
            stale.unlink()
    for rel, size in data.items:
        path = folder / rel
        if path.exists() and path.stat().st_size == size:
            continue
        with open(path, "wb") as handle:
            left = size
            while left:
                block = os.urandom(min(left, 4 * MiB))
                handle.write(block)
                left -= len(block)
    return folder
