"""The tools a user would otherwise use: scp, rsync -e ssh, lftp (pull)."""

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from typing import List

from bench.data import DataSet

LFTP_SEGMENTS = 8


@dataclass(frozen=True)
class Link:
    """How to reach the benchmark's sshd: directly or through the relay."""

    name: str
    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str

    def ssh_options(self) -> List[str]:
        """Return the OpenSSH options every tool uses (strict host key check)."""
        return ["-i", self.key_file, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]


def scp(link: Link, data: DataSet, src: str, dst: str) -> List[str]:
    """Return scp's argv copying folder ``src`` into ``dst`` (which must not exist)."""
    return ["scp", "-q", "-r", "-P", str(link.port), *link.ssh_options(),
            f"{link.user}@{link.host}:{src}", dst]


def rsync(link: Link, data: DataSet, src: str, dst: str) -> List[str]:
    """Return the argv of one plain ``rsync -a -e ssh`` copying ``src``/ to ``dst``/."""
    ssh = shlex.join(["ssh", "-p", str(link.port), *link.ssh_options()])
    return ["rsync", "-a", "-e", ssh, f"{link.user}@{link.host}:{src}/", f"{dst}/"]


def lftp(link: Link, data: DataSet, src: str, dst: str) -> List[str]:
    """Return lftp's argv: ``pget -n 8`` for one file, ``mirror --parallel=8`` else."""
    program = shlex.join(["ssh", "-a", "-x", *link.ssh_options()])
    if data.count == 1:
        rel = data.items[0][0]
        action = (f"pget -n {LFTP_SEGMENTS} {shlex.quote(src + '/' + rel)} "
                  f"-o {shlex.quote(dst + '/' + rel)}")
    else:
        action = f"mirror --parallel={LFTP_SEGMENTS} {shlex.quote(src)} {shlex.quote(dst)}"
    script = (f"set sftp:connect-program {shlex.quote(program)}; "
              f"set net:max-retries 1; set cmd:fail-exit yes; "
              f"open -u {link.user}, sftp://{link.host}:{link.port}; {action}")
    return ["lftp", "-c", script]


TOOLS = {"scp": scp, "rsync": rsync, f"lftp-{LFTP_SEGMENTS}": lftp}


def run_tool(name: str, link: Link, data: DataSet, src: str, dst: str) -> float:
    """Run baseline ``name``; return its wall time in seconds.

    Raise RuntimeError (with the tool's error output) if it fails.
    """
    if name != "scp":
        os.makedirs(dst, exist_ok=True)
    argv = TOOLS[name](link, data, src, dst)
    start = time.monotonic()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return elapsed
