"""A private OpenSSH server on 127.0.0.1 for transfer tests.

It has its own host key, client key, authorized_keys and known_hosts under
``root``; it never touches the system's sshd or ~/.ssh. ``password_user`` is a
real local account ("tmtest", root only) whose password is set per Sshd.
"""
from __future__ import annotations

import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from .ports import free_port

SSHD_BIN = Path("/usr/sbin/sshd")
PASSWORD_USER = "tmtest"
START_TIMEOUT = 15.0


def _keygen(path: Path, comment: str) -> str:
    """Create an ed25519 key pair at ``path`` (mode 600); return the public line."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, stdin=subprocess.DEVNULL)
    path.chmod(0o600)
    return path.with_name(path.name + ".pub").read_text().strip()


def _openssh_version() -> tuple[int, int]:
    """Return the (major, minor) OpenSSH version of ``ssh -V``, (0, 0) if unknown."""
    out = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stderr + out.stdout)
    return (int(match[1]), int(match[2])) if match else (0, 0)


class Sshd:
    """/usr/sbin/sshd -D -e on 127.0.0.1:``port`` with files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # other local users (tmtest) may read the key file
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.config_path = self.root / "sshd_config"
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.key_file = self.root / "id_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.log_path = self.root / "sshd.log"
        self.pid_file = self.root / "sshd.pid"
        host_pub = _keygen(self.host_key, "torrent-mover-test-host")
        self.host_key_line = f"[{self.host}]:{self.port} " + " ".join(host_pub.split()[:2])
        self.known_hosts.write_text(self.host_key_line + "\n")
        self.authorized_keys.write_text(_keygen(self.key_file, "torrent-mover-test") + "\n")
        self.authorized_keys.chmod(0o644)
        self.config_path.write_text(self.config_text())
        self._proc: subprocess.Popen | None = None
        self._password: str | None = None

    def __repr__(self) -> str:
        return f"Sshd({self.host}:{self.port}, user={self.user!r})"

    def config_text(self) -> str:
        """Return the sshd_config text (see the class docstring)."""
        lines = [
            f"Port {self.port}", f"ListenAddress {self.host}",
            f"HostKey {self.host_key}", f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PermitRootLogin yes", "PubkeyAuthentication yes",
            "PasswordAuthentication yes", "KbdInteractiveAuthentication no",
            "PermitEmptyPasswords no", "UsePAM no", "StrictModes no", "UseDNS no",
            "PrintMotd no", "MaxStartups 64:30:128", "MaxSessions 64",
            "MaxAuthTries 10", "LogLevel VERBOSE", "Subsystem sftp internal-sftp",
        ]
        if _openssh_version() >= (9, 8):
            lines.append("PerSourcePenalties no")  # failed-auth tests must not ban 127.0.0.1
        return "\n".join(lines) + "\n"

    @property
    def running(self) -> bool:
        """True while the sshd listener process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> "Sshd":
        """Start sshd and wait until it sends its SSH banner; return self.

        Raises RuntimeError (with the sshd log) if sshd is missing, exits, or
        sends no banner within ``timeout`` seconds.
        """
        if self.running:
            return self
        if not os.access(SSHD_BIN, os.X_OK):
            raise RuntimeError(f"{SSHD_BIN} missing: run `make test` (or `make install`)"
                               " to install openssh-server")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(SSHD_BIN), "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self._wait_banner(timeout)
        return self

    def _wait_banner(self, timeout: float) -> None:
        """Poll the port until an ``SSH-`` banner is read; raise RuntimeError if not."""
        deadline = time.monotonic() + timeout
        last: Exception | str | None = None
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self!r} exited ({self._proc.returncode}); log:\n"
                                   f"{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    banner = sock.makefile("rb").readline()
                if banner.startswith(b"SSH-"):
                    return
                last = repr(banner)
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self!r}: no SSH banner in {timeout:g}s ({last!r}); log:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the sshd log ("" if none)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM sshd, wait up to ``timeout`` s, then SIGKILL. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def restart(self, timeout: float = START_TIMEOUT) -> "Sshd":
        """stop() then start() on the same port with the same keys; return self."""
        self.stop()
        return self.start(timeout)

    @property
    def password_user(self) -> str:
        """Name of the local account for password logins ("tmtest").

        Raises RuntimeError unless the tests run as root (it needs useradd).
        """
        self._ensure_password_user()
        return PASSWORD_USER

    @property
    def password(self) -> str:
        """That account's password, freshly set by this Sshd (root only)."""
        self._ensure_password_user()
        assert self._password is not None
        return self._password

    def _ensure_password_user(self) -> None:
        """Create ``tmtest`` if missing and give it a new random password, once."""
        if self._password is not None:
            return
        if os.geteuid() != 0:
            raise RuntimeError(f"password_user/password need root: the account "
                               f"{PASSWORD_USER!r} is created with useradd/chpasswd")
        try:
            pwd.getpwnam(PASSWORD_USER)
        except KeyError:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", PASSWORD_USER],
                           check=True, capture_output=True)
        password = secrets.token_urlsafe(15)
        subprocess.run(["chpasswd"], input=f"{PASSWORD_USER}:{password}\n", text=True,
                       check=True, capture_output=True)
        self._password = password

    def __enter__(self) -> "Sshd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
