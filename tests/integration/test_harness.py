"""Proof that the test harness works: real qBittorrent 4.5 / 5.x clients and sshd."""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import paramiko
import pytest
import qbittorrentapi
import requests

from tests.harness import eventually
from tests.harness.ports import free_port
from tests.harness.qbt import chroot_dir
from tests.harness.sshd import Sshd
from tests.harness import torrents as T

VERSION_PREFIX = {"4.5": "v4.5.", "5": "v5."}


# ---- qBittorrent -------------------------------------------------------------

def test_clients_start_and_require_the_password(qbt_trio):
    for qbt in qbt_trio:
        assert qbt.running and qbt.flavor == qbt_trio.flavor
        client = qbt.client()
        assert str(client.app.version).startswith(VERSION_PREFIX[qbt.flavor])
        assert qbt.api_version == str(client.app.web_api_version)
        assert qbt.url == f"http://127.0.0.1:{qbt.port}" and qbt.host == "127.0.0.1"
        # 127.0.0.1 is not exempt from authentication: the login is really tested.
        assert requests.get(f"{qbt.url}/api/v2/app/version", timeout=10).status_code == 403
        login = requests.post(f"{qbt.url}/api/v2/auth/login", timeout=10,
                              data={"username": "admin", "password": qbt.password})
        assert login.text == "Ok." and "SID" in login.cookies
        bad = qbittorrentapi.Client(host=qbt.url, username="admin", password="wrong",
                                    REQUESTS_ARGS={"timeout": 10})
        with pytest.raises(qbittorrentapi.LoginFailed):
            bad.auth_log_in()


def test_clients_have_test_settings(qbt_trio):
    for qbt in qbt_trio:
        prefs = qbt.client().app_preferences()
        assert prefs["listen_port"] == qbt.bt_port
        assert Path(prefs["save_path"]) == qbt.save_path
        assert prefs["web_ui_address"] == "127.0.0.1"
        assert not (prefs["dht"] or prefs["pex"] or prefs["lsd"] or prefs["upnp"])
        assert not prefs["bypass_local_auth"]
        assert not prefs["queueing_enabled"] and not prefs["max_ratio_enabled"]
        assert not prefs["max_seeding_time_enabled"] and not prefs["limit_lan_peers"]


def test_seeder_to_downloader_transfer(qbt_trio):
    seeder, src = qbt_trio.seeder, qbt_trio.src
    content = T.multi_file(seeder.save_path, "five-mb", sizes=(
        2 * T.MiB, 2 * T.MiB + 333, 1_000_000, 1))
    torrent, ih = T.make_torrent(content, piece_size=64 * 1024)
    started = time.monotonic()
    assert T.download_from_seeder(seeder, src, torrent, seeder.save_path, src.save_path,
                                  category="movies", tags=["a"]) == ih
    print(f"{qbt_trio.flavor}: 5 MB transfer took {time.monotonic() - started:.1f}s")
    entry = T.info(src.client(), ih)
    assert entry.progress == 1 and entry.state in T.COMPLETE_STATES
    assert entry.category == "movies" and entry.tags == "a"
    assert Path(entry.save_path) == src.save_path
    match, mismatch, errors = filecmp.cmpfiles(
        content, src.save_path / "five-mb",
        [f"file{i}.bin" for i in range(4)], shallow=False)
    assert (mismatch, errors) == ([], []) and len(match) == 4


def test_client_reads_host_files_at_the_same_path(qbt_trio, case_dir):
    """A full hash check (no skip) proves the client sees case_dir's real bytes."""
    content = T.nested(case_dir)
    torrent, ih = T.make_torrent(content)
    client = qbt_trio.dst.client()
    T.add(client, torrent, case_dir)
    eventually(lambda: T.is_complete(client, ih), timeout=30)
    client.torrents_stop(torrent_hashes=ih)
    eventually(lambda: T.info(client, ih).state in T.STOPPED_STATES, timeout=15)


def test_restart_and_kill_keep_torrents(qbt_trio, case_dir):
    dst = qbt_trio.dst
    torrent, ih = T.make_torrent(T.single_file(case_dir, size=300_000))
    T.add_complete(dst.client(), torrent, case_dir)
    old_pid = dst.pid
    dst.restart()
    assert dst.pid != old_pid and T.info(dst.client(), ih) is not None
    dst.kill()
    assert not dst.running
    with pytest.raises(qbittorrentapi.APIConnectionError):
        dst.client()
    # the next test's reset restarts a killed member


def test_hook_inherits_env_and_runs_host_python(qbt_trio, case_dir):
    """qBittorrent's 'on torrent added' program runs with the Qbt env, host side."""
    src = qbt_trio.src
    out = case_dir / "hook.out"
    script = case_dir / "hook.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(out)!r}, 'w').write(sys.argv[1] + ' ' + "
        "os.environ['TORRENT_MOVER_STATE_DIR'])\n")
    program = " ".join([*src.host_prefix, sys.executable, str(script), "%K"])
    client = src.client()
    client.app_set_preferences({"autorun_on_torrent_added_enabled": True,
                                "autorun_on_torrent_added_program": program})
    torrent, ih = T.make_torrent(T.single_file(case_dir, size=20_000))
    T.add_complete(client, torrent, case_dir)
    eventually(lambda: out.exists() and out.read_text(), timeout=20,
               message=f"hook did not run; log:\n{src.log_tail()}")
    assert out.read_text() == f"{ih} {qbt_trio.state_dir}"


def test_chroot_mounts_are_private(qbt_trio):
    """5.x mounts live in each client's own namespace: none leak to the host."""
    assert all(q.running for q in qbt_trio)
    chroot = str(chroot_dir().resolve())
    assert chroot not in Path("/proc/self/mountinfo").read_text()


def test_qbt45_trio_is_45(qbt45_trio):
    assert [q.flavor for q in qbt45_trio] == ["4.5"] * 3
    assert T.info(qbt45_trio.src.client(), "0" * 40) is None


# ---- helpers ---------------------------------------------------------------

def test_free_port_never_repeats():
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50


def test_eventually_reports_last_value():
    assert eventually(lambda: 7, timeout=1) == 7
    with pytest.raises(AssertionError, match="last value: 0"):
        eventually(lambda: 0, timeout=0.3, interval=0.05)


def test_torrents_are_deterministic(tmp_path):
    one = T.multi_file(tmp_path / "one", seed="s")
    two = T.multi_file(tmp_path / "two", seed="s")
    (b1, h1), (b2, h2) = T.make_torrent(one), T.make_torrent(two)
    assert b1 == b2 and h1 == h2 == T.torrent_hash(b1)
    assert len(h1) == 40 and h1 == h1.lower()
    private, hp = T.make_torrent(one, private=True)
    assert hp != h1 and b"7:privatei1e" in private


# ---- sshd ------------------------------------------------------------------

def _paramiko(sshd: Sshd, known_hosts: Path | None = None, **auth) -> paramiko.SSHClient:
    """Connect with host key checking against ``known_hosts`` (RejectPolicy)."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts or sshd.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(sshd.host, sshd.port, look_for_keys=False, allow_agent=False,
                   timeout=10, **auth)
    return client


def _run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, _ = client.exec_command(command, timeout=10)
    return stdout.read().decode().strip()


def _ssh_argv(sshd: Sshd, known_hosts: Path | None = None) -> list[str]:
    return ["ssh", "-p", str(sshd.port), "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts or sshd.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"]


def test_sshd_files(sshd):
    assert sshd.host == "127.0.0.1" and sshd.running
    assert sshd.known_hosts.read_text() == sshd.host_key_line + "\n"
    assert sshd.host_key_line.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert oct(sshd.key_file.stat().st_mode & 0o777) == "0o600"


def test_sshd_key_auth_paramiko_and_sftp(sshd):
    client = _paramiko(sshd, username=sshd.user, key_filename=str(sshd.key_file))
    with client:
        assert _run(client, "id -un") == sshd.user
        with client.open_sftp() as sftp:
            assert sftp.stat(str(sshd.known_hosts)).st_size > 0


def test_sshd_key_auth_openssh_and_rsync(sshd, tmp_path):
    argv = _ssh_argv(sshd) + ["-i", str(sshd.key_file), "-o", "IdentitiesOnly=yes",
                              "-o", "BatchMode=yes"]
    done = subprocess.run(argv + [f"{sshd.user}@{sshd.host}", "echo", "ok"],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
    source = T.single_file(tmp_path, size=100_000)
    done = subprocess.run(["rsync", "-a", "-e", " ".join(argv), str(source),
                           f"{sshd.user}@{sshd.host}:{tmp_path / 'copy.bin'}"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert filecmp.cmp(source, tmp_path / "copy.bin", shallow=False)


def test_sshd_password_auth(sshd):
    argv = _ssh_argv(sshd) + ["-o", "PubkeyAuthentication=no",
                              "-o", "PreferredAuthentications=password"]
    done = subprocess.run(["sshpass", "-e", *argv, f"{sshd.password_user}@{sshd.host}",
                           "id", "-un"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "SSHPASS": sshd.password})
    assert (done.returncode, done.stdout.strip()) == (0, sshd.password_user), done.stderr
    with _paramiko(sshd, username=sshd.password_user, password=sshd.password) as client:
        assert _run(client, "id -un") == sshd.password_user
    with pytest.raises(paramiko.AuthenticationException):
        _paramiko(sshd, username=sshd.password_user, password="wrong-password")


def test_sshd_wrong_or_unknown_host_key_is_rejected(sshd, tmp_path):
    other = Sshd(tmp_path / "other")  # a second, never started server: other host key
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(other.host_key_line.replace(f":{other.port} ", f":{sshd.port} ") + "\n")
    with pytest.raises(paramiko.BadHostKeyException):
        _paramiko(sshd, wrong, username=sshd.user, key_filename=str(sshd.key_file))
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        _paramiko(sshd, empty, username=sshd.user, key_filename=str(sshd.key_file))
    done = subprocess.run(_ssh_argv(sshd, wrong) + [
        "-i", str(sshd.key_file), "-o", "BatchMode=yes", f"{sshd.user}@{sshd.host}",
        "true"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 255 and "IDENTIFICATION HAS CHANGED" in done.stderr


def test_sshd_16_parallel_sessions_and_restart(sshd):
    results: list[str] = []

    def one() -> None:
        with _paramiko(sshd, username=sshd.user, key_filename=str(sshd.key_file)) as c:
            results.append(_run(c, "sleep 0.5; echo ok"))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == ["ok"] * 16
    port = sshd.port
    sshd.restart()
    assert sshd.port == port and sshd.running
    with _paramiko(sshd, username=sshd.user, key_filename=str(sshd.key_file)) as c:
        assert _run(c, "echo again") == "again"
