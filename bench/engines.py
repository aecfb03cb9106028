"""Our engines, each timed in a child process of its own.

``run_engine`` starts ``python -m bench.engines SPEC`` so every run starts
cold and its peak memory (ru_maxrss) is its own. The child pulls the data
set from the server through the real engine code (mover.transfer) and
prints JSON: seconds (from the engine call, with the source endpoint
already connected as in the mover, to the last rename) and peak_mb.
"""

import json
import resource
import subprocess
import sys
import time
from typing import Dict

ENGINES = ("mover-rsync", "mover-sftp")   # transfer_mode rsync and sftp (auto picks one)


def run_engine(spec: Dict) -> Dict:
    """Run the engine described by ``spec`` in a child; return its JSON answer.

    ``spec``: engine (one of ENGINES), link (Link fields), src_root, dst_root, items, workers,
    limit_mbs, connections. Raise RuntimeError with the child's error output.
    """
    done = subprocess.run([sys.executable, "-m", "bench.engines", json.dumps(spec)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"engine {spec['engine']} failed: {done.stderr.strip()[-600:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _transfer(spec: Dict) -> float:
    """Pull the items of ``spec`` with its engine (inside the child); return seconds.

    The clock starts once the source endpoint is connected: the mover has that
    connection open (preflight) before any engine runs.
    """
    from mover.config import ServerConfig
    from mover.endpoints.local import LocalEndpoint
    from mover.endpoints.ssh import SshEndpoint
    from mover.transfer import Job, Progress, run_job
    link = spec["link"]
    server = ServerConfig("source", link["host"], link["port"], link["user"],
                          link["key_file"], None, link["known_hosts"])
    progress = Progress(limit_bps=spec.get("limit_mbs", 0) * 1e6)
    src = SshEndpoint(server)       # the mover opens it before any engine runs
    start = time.monotonic()
    try:
        job = Job(src, LocalEndpoint("destination"), spec["src_root"], spec["dst_root"],
                  tuple(tuple(item) for item in spec["items"]),
                  workers=spec.get("workers", 4), limit_bps=spec.get("limit_mbs", 0) * 1e6,
                  connections=spec.get("connections") or 8)
        mode = "rsync" if spec["engine"] == "mover-rsync" else "sftp"
        run_job(job, mode, progress, src_server=server)
        return time.monotonic() - start
    finally:
        src.close()


def child(argv) -> None:
    """Entry point of the child: time one transfer, print JSON."""
    spec = json.loads(argv[0])
    import mover.endpoints.ssh  # noqa: F401 - imports happen before the clock starts
    import mover.transfer.rsync  # noqa: F401
    import mover.transfer.segmented  # noqa: F401
    import mover.transfer.stream  # noqa: F401
    seconds = _transfer(spec)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": round(peak, 1),
                      "children_peak_mb": round(children, 1)}))


if __name__ == "__main__":
    child(sys.argv[1:])
