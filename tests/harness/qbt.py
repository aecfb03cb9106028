"""One real qbittorrent-nox process per ``Qbt``: 4.5 from the host, 5.x from a chroot.

Flavor "4.5" runs /usr/bin/qbittorrent-nox (Debian 12). Flavor "5" runs
/usr/bin/qbittorrent-nox inside the Debian 13 chroot named by env QBT5_CHROOT
(``make chroot`` builds it). Each 5.x process gets its own private mount
namespace (``unshare --mount``) in which /proc, /dev and /sys are mounted in
the chroot, the test root is bind-mounted at the same absolute path, and the
host's / is visible at ``HOST_VIEW``. The mounts live and die with the process:
nothing is mounted in the host's namespace, several instances share the chroot
safely, and a crashed test run leaves no mount behind.
"""
from __future__ import annotations

import base64
import ctypes
import hashlib
import os
import secrets
import signal
import shutil
import subprocess
import threading
import time
from pathlib import Path

import qbittorrentapi

from . import eventually
from .ports import free_port

FLAVORS = ("4.5", "5")
QBT45_BIN = Path("/usr/bin/qbittorrent-nox")
DEFAULT_CHROOT = "/var/cache/torrent-mover/trixie"
HOST_VIEW = "/run/torrent-mover-host"  # the host's / as seen inside the chroot
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10

# Runs as root in a fresh mount namespace, then becomes qbittorrent-nox.
_NS_SCRIPT = r"""set -e
C="$1"; R="$2"; H="$3"; shift 3
mkdir -p "$C$H" "$C$R"
mount --rbind / "$C$H"
mount -t proc proc "$C/proc"
mount --rbind /dev "$C/dev"
mount --rbind /sys "$C/sys"
mount --bind "$R" "$C$R"
exec chroot "$C" "$@"
"""


def chroot_dir() -> Path:
    """Return the qBittorrent 5.x chroot directory (env QBT5_CHROOT or default)."""
    return Path(os.environ.get("QBT5_CHROOT") or DEFAULT_CHROOT)


def missing_binary(flavor: str) -> str | None:
    """Return a message saying what is missing to run ``flavor``, or None if ready."""
    if flavor == "4.5":
        if not os.access(QBT45_BIN, os.X_OK):
            return (f"{QBT45_BIN} (qBittorrent 4.5) is missing: "
                    "run `make test` (or `make install`) to install it")
        return None
    if flavor == "5":
        binary = chroot_dir() / "usr/bin/qbittorrent-nox"
        if not os.access(binary, os.X_OK):
            return (f"qBittorrent 5.x chroot missing ({binary} not found): "
                    "run `make chroot` or `make test`")
        if os.geteuid() != 0:
            return "qBittorrent 5.x runs in a chroot: the tests must run as root"
        return None
    raise ValueError(f"unknown flavor {flavor!r}; expected one of {FLAVORS}")


def pbkdf2_password(password: str, salt: bytes | None = None) -> str:
    """Return the ``WebUI\\Password_PBKDF2`` value for ``password``.

    Format ``@ByteArray(SALT:HASH)``: base64 of a 16-byte salt and of
    PBKDF2-HMAC-SHA512(password, salt, 100000 iterations, 64 bytes).
    """
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100_000, 64)
    return (f"@ByteArray({base64.b64encode(salt).decode()}:"
            f"{base64.b64encode(digest).decode()})")


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when its parent dies (PR_SET_PDEATHSIG).

    Used only from the main thread: the signal fires when the *thread* that
    started the child ends.
    """
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Qbt:
    """A qbittorrent-nox process with its own profile, ports and password.

    Files: ``root/name/profile`` (profile, log ``qbittorrent-nox.log``) and
    ``root/name/downloads`` (default save path). The config is written before
    the first start only, so settings made through the API survive restart().
    """

    _mount_users: dict[Path, int] = {}  # 5.x: live processes per chroot mount point

    def __init__(self, root: Path, name: str, flavor: str = "4.5",
                 env: dict[str, str] | None = None) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; expected one of {FLAVORS}")
        self.root = Path(root).resolve()
        self.name = name
        self.flavor = flavor
        self.env = dict(env or {})
        self.dir = self.root / name
        self.profile = self.dir / "profile"
        self.save_path = self.dir / "downloads"
        self.log_path = self.profile / "qbittorrent-nox.log"
        self.username = "admin"
        self.password = secrets.token_urlsafe(15)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.bt_port = free_port()
        self._proc: subprocess.Popen | None = None
        self._api_version: str | None = None

    def __repr__(self) -> str:
        return f"Qbt({self.name!r}, flavor={self.flavor!r}, url={self.url!r})"

    @property
    def url(self) -> str:
        """Web UI base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        """Path of qBittorrent.conf inside the profile."""
        return self.profile / "qBittorrent" / "config" / "qBittorrent.conf"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the qbittorrent-nox process (the same PID in the 5.x chroot)."""
        return self._proc.pid if self._proc else None

    @property
    def api_version(self) -> str:
        """Web API version string (e.g. "2.8.19"); asks the client once."""
        if self._api_version is None:
            self._api_version = str(self.client().app.web_api_version)
        return self._api_version

    @property
    def host_prefix(self) -> list[str]:
        """argv words that make a program started by this qBittorrent see the host.

        [] for 4.5. For 5 (inside the chroot): ``chroot HOST_VIEW``, so an
        autorun program like ``/work/main/.venv/bin/python hook.py %K`` runs
        with the host's Python and files when prefixed with these words.
        """
        return [] if self.flavor == "4.5" else ["/usr/sbin/chroot", HOST_VIEW]

    def config_text(self) -> str:
        """Return the qBittorrent.conf written before the first start."""
        return "\n".join([
            "[LegalNotice]", "Accepted=true", "",
            "[BitTorrent]",
            f"Session\\Port={self.bt_port}",
            f"Session\\DefaultSavePath={self.save_path}",
            "Session\\DHTEnabled=false", "Session\\PeXEnabled=false",
            "Session\\LSDEnabled=false", "Session\\AnonymousModeEnabled=false",
            "Session\\IgnoreLimitsOnLAN=true", "Session\\QueueingSystemEnabled=false",
            "Session\\GlobalMaxRatio=-1", "Session\\GlobalMaxSeedingMinutes=-1",
            "Session\\GlobalMaxInactiveSeedingMinutes=-1",
            "Session\\BTProtocol=TCP", "Session\\AddTorrentPaused=false",
            "Session\\AddTorrentStopped=false", "Session\\TempPathEnabled=false",
            "", "[Network]", "PortForwardingEnabled=false", "",
            "[Preferences]",
            "WebUI\\Enabled=true", f"WebUI\\Port={self.port}",
            "WebUI\\Address=127.0.0.1", f"WebUI\\Username={self.username}",
            f'WebUI\\Password_PBKDF2="{pbkdf2_password(self.password)}"',
            "WebUI\\LocalHostAuth=true",  # true = 127.0.0.1 must log in too
            "WebUI\\HostHeaderValidation=false", "WebUI\\CSRFProtection=false",
            "WebUI\\MaxAuthenticationFailCount=1000", "WebUI\\UPnP=false",
            "General\\StatusbarExternalIPDisplayed=false", "",
        ])

    def command(self) -> list[str]:
        """Return the argv that starts this client (see the module docstring)."""
        args = ["/usr/bin/qbittorrent-nox", f"--profile={self.profile}"]
        if self.flavor == "4.5":
            return args
        args.append("--confirm-legal-notice")
        return ["unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", _NS_SCRIPT, "qbt5-ns", str(chroot_dir().resolve()),
                str(self.root), HOST_VIEW, *args]

    def start(self, timeout: float = START_TIMEOUT) -> "Qbt":
        """Start the process and wait until a Web API login succeeds; return self.

        Raises RuntimeError if the binary is missing, the process exits, or no
        login works within ``timeout`` seconds (the log tail is in the message).
        """
        if self.running:
            return self
        problem = missing_binary(self.flavor)
        if problem:
            raise RuntimeError(problem)
        self.save_path.mkdir(parents=True, exist_ok=True)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(self.config_text())
        env = {**os.environ, **self.env}
        with open(self.log_path, "ab") as log:
            log.write(f"---- {time.strftime('%H:%M:%S')} start {self.command()}\n".encode())
            log.flush()
            main = threading.current_thread() is threading.main_thread()
            self._proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                start_new_session=True, preexec_fn=_die_with_parent if main else None)
        self._acquire_mount()
        self._wait_login(timeout)
        return self

    def _wait_login(self, timeout: float) -> None:
        """Poll a login until it works; raise RuntimeError (with log) otherwise."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                code = self._proc.returncode if self._proc else None
                self._release_mount()
                raise RuntimeError(f"{self!r} exited with code {code} while starting;"
                                   f" log:\n{self.log_tail()}")
            try:
                self._api_version = str(self.client().app.web_api_version)
                return
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"{self!r}: no Web API login within {timeout:g}s "
                           f"(last error: {last!r}); log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the process log ("" if none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process, wait up to ``timeout`` s, then SIGKILL. Idempotent."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._release_mount()

    def kill(self) -> None:
        """SIGKILL the process (a crash, for tests) and reap it. Idempotent."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._release_mount()

    def restart(self, timeout: float = START_TIMEOUT) -> "Qbt":
        """stop() then start() on the same ports, profile and password; return self."""
        self.stop()
        return self.start(timeout)

    def client(self) -> qbittorrentapi.Client:
        """Return a new qbittorrentapi.Client, already logged in.

        Raises qbittorrentapi.LoginFailed / APIConnectionError when it cannot.
        """
        client = qbittorrentapi.Client(
            host=self.url, username=self.username, password=self.password,
            REQUESTS_ARGS={"timeout": REQUEST_TIMEOUT},
            VERIFY_WEBUI_CERTIFICATE=False)
        client.auth_log_in()
        return client

    def reset(self) -> None:
        """Per-test cleanup: delete torrents (with files), categories and tags,
        disable the autorun programs, and empty the default save path."""
        client = self.client()
        reset(client)
        categories = list(client.torrents_categories())
        if categories:
            client.torrents_remove_categories(categories)
        tags = list(client.torrents_tags())
        if tags:
            client.torrents_delete_tags(tags)
        client.app_set_preferences({"autorun_enabled": False,
                                    "autorun_on_torrent_added_enabled": False})
        _empty_dir(self.save_path)

    def _acquire_mount(self) -> None:
        if self.flavor == "5":
            key = chroot_dir().resolve() / str(self.root).lstrip("/")
            Qbt._mount_users[key] = Qbt._mount_users.get(key, 0) + 1

    def _release_mount(self) -> None:
        """Forget the process; remove the chroot mount point when its last user left."""
        proc, self._proc = self._proc, None
        if proc is None or self.flavor != "5":
            return
        key = chroot_dir().resolve() / str(self.root).lstrip("/")
        Qbt._mount_users[key] = Qbt._mount_users.get(key, 1) - 1
        if Qbt._mount_users[key] <= 0:
            del Qbt._mount_users[key]
            try:
                key.rmdir()  # an empty directory in the chroot; never a mount here
            except OSError:
                pass

    def __enter__(self) -> "Qbt":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _empty_dir(path: Path) -> None:
    """Delete everything inside ``path`` (not ``path`` itself); ignore errors."""
    for child in path.iterdir() if path.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def reset(client: qbittorrentapi.Client, timeout: float = 30) -> None:
    """Delete every torrent of ``client`` with its files; wait until none is left.

    Raises AssertionError if torrents remain after ``timeout`` seconds.
    """
    if client.torrents_info():
        client.torrents_delete(delete_files=True, torrent_hashes="all")
    eventually(lambda: not client.torrents_info(), timeout=timeout,
               message="torrents left after reset")
