"""A private OpenSSH server on 127.0.0.1 for the benchmark.

The transfer rows run without the test tree (only the whole-move timing in
``bench.moves`` borrows the test harness's qBittorrent), so they bring their
own small server: its own host key, its own client key in authorized_keys,
a known_hosts file that pins the host key, all under one folder.
"""

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path) -> None:
    """Create an ed25519 key pair at ``path`` (no passphrase) unless it exists."""
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                       check=True, stdin=subprocess.DEVNULL)


class Sshd:
    """An sshd for the current user on a free loopback port, files under ``root``.

    After ``start()``: ``host``, ``port``, ``user``, ``key_file`` (client
    private key) and ``known_hosts`` (pins the host key) are ready to use.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host, self.port = "127.0.0.1", 0
        self.user = os.environ.get("USER") or "root"
        self.key_file = str(self.root / "client_key")
        self.known_hosts = str(self.root / "known_hosts")
        self.proc: Optional[subprocess.Popen] = None

    def _write_config(self) -> Path:
        """Write keys, authorized_keys, known_hosts and sshd_config; return the config."""
        self.root.mkdir(parents=True, exist_ok=True)
        host_key = self.root / "host_key"
        _keygen(host_key)
        _keygen(Path(self.key_file))
        auth = self.root / "authorized_keys"
        auth.write_text(Path(self.key_file + ".pub").read_text())
        host_pub = (self.root / "host_key.pub").read_text().split()
        Path(self.known_hosts).write_text(f"[{self.host}]:{self.port} {host_pub[0]} "
                                          f"{host_pub[1]}\n")
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", f"ListenAddress {self.host}", f"HostKey {host_key}",
            f"AuthorizedKeysFile {auth}", f"PidFile {self.root / 'sshd.pid'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "MaxStartups 200", "MaxSessions 50", "UseDNS no", "LogLevel ERROR",
            "Subsystem sftp internal-sftp", ""]))
        return config

    def start(self) -> "Sshd":
        """Start sshd; return self once it accepts connections.

        Raise RuntimeError if it exits or does not listen within 10 seconds.
        """
        self.port = free_port()
        config = self._write_config()
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                     stdin=subprocess.DEVNULL,
                                     stderr=open(self.root / "sshd.log", "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen within 10 s")

    def stop(self) -> None:
        """Stop sshd (and wait for it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
