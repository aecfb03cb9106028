"""The segmented engine against a real sshd: both directions, resume, bandwidth limit."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mover.argv import PARTIAL_DIR
from mover.config import ServerConfig
from mover.endpoints.local import LocalEndpoint
from mover.endpoints.ssh import SshEndpoint
from mover.errors import ProvisioningError, TransferError
from mover.transfer import Job, Progress
from mover.transfer.segmented import RANGES_SUFFIX, segmented_job
from mover.transfer.segments import MAX_SEGMENT, MIN_SEGMENT, segment_size

MiB = 1024 * 1024
BIG = 40 * MiB + 12345          # five ranges with 4 connections, a short last one


def server_of(sshd) -> ServerConfig:
    """Return the ServerConfig of the harness sshd (key login)."""
    return ServerConfig("source", sshd.host, sshd.port, sshd.user, str(sshd.key_file),
                        None, str(sshd.known_hosts))


def make_tree(root: Path) -> tuple:
    """Write one big and three small random files under ``root``; return the items."""
    items = (("Movie/movie.mkv", BIG), ("Movie/a.nfo", 1000), ("Movie/sub/b.srt", 0),
             ("Movie/sub/c.srt", 300 * 1024))
    for rel, size in items:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(os.urandom(size))
    return items


def make_job(sshd, case_dir: Path, direction: str, items=None):
    """Return (job, kwargs for segmented_job, src root, dst root) for ``direction``
    ("pull", "push" or "local"); the destination endpoint's root is ``case_dir``."""
    src_root, dst_root = case_dir / "src", case_dir / "dst"
    src_root.mkdir(exist_ok=True)
    items = items or make_tree(src_root)
    remote = {"pull": lambda: SshEndpoint(server_of(sshd)),
              "push": lambda: SshEndpoint(server_of(sshd), root=str(case_dir))}
    src = remote["pull"]() if direction == "pull" else LocalEndpoint("source")
    dst = remote["push"]() if direction == "push" else \
        LocalEndpoint("destination", root=str(case_dir))
    return Job(src, dst, str(src_root), str(dst_root), items), {}, src_root, dst_root


def assert_identical(items, src_root: Path, dst_root: Path) -> None:
    for rel, _ in items:
        assert (dst_root / rel).read_bytes() == (src_root / rel).read_bytes(), rel
    leftovers = [p for p in dst_root.rglob("*") if PARTIAL_DIR in str(p)]
    assert leftovers == []


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_big_file_arrives_byte_identical(sshd, case_dir, direction):
    job, kwargs, src_root, dst_root = make_job(sshd, case_dir, direction)
    progress = Progress()
    result = segmented_job(job, progress, connections=4, **kwargs)
    assert_identical(job.items, src_root, dst_root)
    total = sum(size for _, size in job.items)
    assert result.bytes_moved == total == progress.bytes_done
    assert result.connections == 4 and result.ranges_moved == -(-BIG // (8 * MiB)) + 3
    again = segmented_job(job, Progress(), connections=4, **kwargs)
    assert again.bytes_moved == 0 and again.files_skipped == len(job.items)


class Interrupt(TransferError):
    """Raised by FailingProgress to cut a transfer short."""


class FailingProgress(Progress):
    """A Progress that fails once ``after`` bytes have been counted."""

    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def add(self, count: int) -> None:
        super().add(count)
        if self.bytes_done > self.after:
            raise Interrupt("cut by the test")


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_rerun_moves_only_the_missing_ranges(sshd, case_dir, direction):
    items = (("big.bin", BIG),)
    (case_dir / "src").mkdir()
    (case_dir / "src" / "big.bin").write_bytes(os.urandom(BIG))
    job, kwargs, src_root, dst_root = make_job(sshd, case_dir, direction, items)
    segment = segment_size(BIG)
    with pytest.raises(Interrupt):
        segmented_job(job, FailingProgress(int(2.5 * segment)), connections=1, **kwargs)
    partial = dst_root / PARTIAL_DIR / "big.bin"
    state = json.loads(Path(str(partial) + RANGES_SUFFIX).read_text())
    assert state["done"] == [0, 1] and not (dst_root / "big.bin").exists()
    result = segmented_job(job, Progress(), connections=3, **kwargs)
    assert result.bytes_moved == BIG - 2 * segment
    assert result.ranges_moved == -(-BIG // segment) - 2
    assert_identical(items, src_root, dst_root)
    assert not Path(str(partial) + RANGES_SUFFIX).exists()


def test_bandwidth_limit_holds_within_ten_percent(sshd, case_dir):
    items = (("a.bin", 24 * MiB), ("b.bin", 8 * MiB))
    (case_dir / "src").mkdir()
    for rel, size in items:
        (case_dir / "src" / rel).write_bytes(os.urandom(size))
    job, kwargs, src_root, dst_root = make_job(sshd, case_dir, "pull", items)
    limit = 8e6
    start = time.monotonic()
    segmented_job(job, Progress(limit_bps=limit), connections=4, **kwargs)
    rate = sum(size for _, size in items) / (time.monotonic() - start)
    assert abs(rate / limit - 1) <= 0.10, f"{rate / 1e6:.2f} MB/s for a limit of 8 MB/s"
    assert_identical(items, src_root, dst_root)


def test_missing_source_file_is_a_provisioning_error(sshd, case_dir):
    items = (("gone.bin", 10),)
    (case_dir / "src").mkdir()
    job, kwargs, _, dst_root = make_job(sshd, case_dir, "pull", items)
    with pytest.raises(ProvisioningError, match="gone.bin"):
        segmented_job(job, Progress(), connections=2, **kwargs)
    assert not (dst_root / "gone.bin").exists()


def test_the_engine_never_asks_which_side_is_remote(case_dir):
    """Ranged readers from the source, positional writers to the destination:
    two local endpoints work like any pair."""
    job, kwargs, src_root, dst_root = make_job(None, case_dir, "local")
    result = segmented_job(job, Progress(), connections=3)
    assert_identical(job.items, src_root, dst_root)
    assert result.bytes_moved == sum(size for _, size in job.items)


def test_ranges_follow_the_file_size():
    assert segment_size(1000) == 1000
    assert segment_size(0) == 1
    assert segment_size(20 * MiB) == MIN_SEGMENT
    assert segment_size(10 * 1024 * MiB) == MAX_SEGMENT
    assert segment_size(1024 * MiB) == 64 * MiB
    assert segment_size(50 * MiB) == 8 * MiB


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_many_small_files_go_in_batches_and_a_rerun_skips_them(sshd, case_dir, direction):
    """More small files than one batch holds, odd names, over three connections."""
    names = [f"Season 1/ep {i:03d} $(touch x) 'q' ;é-{i}.srt" for i in range(150)]
    items = tuple((name, (i * 7919) % (600 * 1024)) for i, name in enumerate(names))
    for rel, size in items:
        (case_dir / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (case_dir / "src" / rel).write_bytes(os.urandom(size))
    job, kwargs, src_root, dst_root = make_job(sshd, case_dir, direction, items)
    result = segmented_job(job, Progress(), connections=3, **kwargs)
    assert result.bytes_moved == sum(size for _, size in items)
    assert_identical(items, src_root, dst_root)
    again = segmented_job(job, Progress(), connections=3, **kwargs)
    assert (again.bytes_moved, again.files_skipped) == (0, len(items))
    assert not (case_dir / "x").exists() and not Path("x").exists()
