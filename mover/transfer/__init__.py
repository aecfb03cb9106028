"""Transfer engines: copy a plan's files from one Endpoint to another.

A ``Job`` says what to copy; ``run_job`` picks the engine for the configured
``transfer_mode``: "rsync" (OpenSSH rsync processes, at most one side
remote); "sftp": with one side remote, the segmented engine (several SSH
connections, big files split into ranges), with both remote a stream through
this process; "local": plain files streamed through this process.
Every engine writes under ``.torrent-mover-partial/`` beside the final file,
renames into place when complete, and resumes a partial file on a re-run.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

from mover.endpoints import Endpoint
from mover.transfer.progress import Progress


@dataclass(frozen=True)
class Job:
    """Copy ``items`` ((relative path, size) pairs) from src_root to dst_root."""

    src: Endpoint
    dst: Endpoint
    src_root: str
    dst_root: str
    items: Tuple[Tuple[str, int], ...]
    workers: int = 4
    checksum: bool = False          # compare content, send deltas (repairs)
    stall_timeout: float = 1500.0
    limit_bps: float = 0.0          # bytes/s for the whole job, 0 = no limit
    verifier: Optional[object] = None   # mover.pieces.PieceVerifier fed by streaming engines
    connections: int = 8            # SSH connections of the segmented engine


def run_job(job: Job, mode: str, progress: Progress, src_server=None, dst_server=None) -> None:
    """Copy every item of ``job`` with the engine for ``mode``.

    ``src_server``/``dst_server`` are the ServerConfig of a remote side (rsync
    needs them to build its ssh command). Raise a MoverError on failure.
    """
    if not job.items:
        return
    if mode == "rsync":
        from mover.transfer.rsync import rsync_job
        rsync_job(job, progress, src_server, dst_server)
    elif mode == "sftp" and (src_server is None) != (dst_server is None):
        from mover.transfer.segmented import segmented_job
        segmented_job(job, progress, src_server, dst_server, connections=job.connections)
    else:
        from mover.transfer.stream import stream_job
        stream_job(job, progress)


__all__ = ["Job", "Progress", "run_job"]
