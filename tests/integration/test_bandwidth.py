"""bandwidth_limit holds within 10% for every engine (the segmented one is in
test_segmented.py): rsync over a real sshd, and the local/stream copy."""
from __future__ import annotations

import os
import time

import pytest

from mover.endpoints.local import LocalEndpoint
from mover.endpoints.ssh import SshEndpoint
from mover.transfer import Job, Progress, run_job
from tests.integration.test_segmented import assert_identical, server_of

MiB = 1024 * 1024
LIMIT = 8e6                     # bytes/s
ITEMS = (("a.bin", 40 * MiB), ("dir/b.bin", 20 * MiB))   # unequal: two rsync buckets


@pytest.mark.parametrize("mode", ["rsync", "local"])
def test_bandwidth_limit_holds_within_ten_percent(sshd, case_dir, mode):
    src_root, dst_root = case_dir / "src", case_dir / "dst"
    for rel, size in ITEMS:
        (src_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (src_root / rel).write_bytes(os.urandom(size))
    remote = SshEndpoint(server_of(sshd)) if mode == "rsync" else None
    try:
        job = Job(remote or LocalEndpoint(), LocalEndpoint(), str(src_root), str(dst_root),
                  ITEMS, limit_bps=LIMIT)
        start = time.monotonic()
        run_job(job, mode, Progress(limit_bps=LIMIT),
                src_server=server_of(sshd) if remote else None)
        rate = sum(size for _, size in ITEMS) / (time.monotonic() - start)
    finally:
        if remote:
            remote.close()
    assert abs(rate / LIMIT - 1) <= 0.10, f"{mode}: {rate / 1e6:.2f} MB/s for a limit of 8 MB/s"
    assert_identical(ITEMS, src_root, dst_root)
