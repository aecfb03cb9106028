"""Bad input gets one clear message and a non-zero exit, never a traceback."""

import socket

import pytest

from tests.e2e import util
from tests.harness import torrents
from tests.harness.qbt import Qbt


def one_message(proc) -> str:
    """Return the single error line printed; assert there is no traceback."""
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    return output


def eligible(ws, client):
    data, ih, _ = util.nasty_torrent(ws)
    torrents.add_complete(client, data, ws.src_save, category="move")
    return ih


@pytest.mark.parametrize("breakage,needle", [
    ("drop DESTINATION_CLIENT", "[DESTINATION_CLIENT]: section is missing"),
    ("port = abc", "[SOURCE_CLIENT] port: 'abc' is not a whole number"),
    ("transfer_mode = ftp", "[SETTINGS] transfer_mode: 'ftp' is not one of"),
])
def test_config_errors_exit_2(qbt45_trio, tmp_root, breakage, needle):
    ws = util.workspace(tmp_root)
    util.write_config(ws, qbt45_trio.src, qbt45_trio.dst)
    text = ws.config.read_text()
    if breakage.startswith("drop"):
        head, _, rest = text.partition("[DESTINATION_CLIENT]")
        text = head + rest[rest.index("[DESTINATION_PATHS]"):]
    elif breakage.startswith("port"):
        text = text.replace(f"port = {qbt45_trio.src.port}", "port = abc", 1)
    else:
        text = text.replace("transfer_mode = rsync", breakage)
    ws.config.write_text(text)
    proc = util.run_hook(ws, "a" * 40)
    assert proc.returncode == 2
    assert needle in one_message(proc)


def test_several_problems_in_one_message(qbt45_trio, tmp_root):
    ws = util.workspace(tmp_root)
    util.write_config(ws, qbt45_trio.src, qbt45_trio.dst, transfer_mode="ftp",
                      parallel_jobs="many")
    proc = util.run_hook(ws, "--sweep")
    output = one_message(proc)
    assert proc.returncode == 2
    assert "transfer_mode" in output and "parallel_jobs" in output


def test_bad_hash_exit_2_before_anything(tmp_root):
    ws = util.workspace(tmp_root)  # no config at all: the hash is checked first
    proc = util.run_hook(ws, "$(touch /tmp/x);")
    assert proc.returncode == 2
    assert "is not a torrent hash" in one_message(proc)


def test_unreachable_client_exit_1(qbt45_trio, tmp_root):
    ws = util.workspace(tmp_root)
    util.write_config(ws, qbt45_trio.src, qbt45_trio.dst)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ws.config.write_text(ws.config.read_text().replace(
        f"port = {qbt45_trio.dst.port}", f"port = {closed_port}"))
    proc = util.run_hook(ws, "--check-config")
    assert proc.returncode == 1
    assert "cannot reach the destination qBittorrent" in one_message(proc)


def test_wrong_password_exit_2(tmp_root):
    """A client of its own: repeated failed logins would ban 127.0.0.1."""
    with Qbt(tmp_root, "pwtest") as client:
        ws = util.workspace(tmp_root)
        util.write_config(ws, client, client)
        ws.config.write_text(ws.config.read_text().replace(client.password, "wrong", 1))
        proc = util.run_hook(ws, "b" * 40)
        assert proc.returncode == 2
        assert "refused the username/password" in one_message(proc)
        assert "wrong" not in proc.stderr.replace("wrong,", "")


@pytest.mark.parametrize("known", ["empty", "other key", "missing file"])
def test_unknown_host_key_refused(qbt45_trio, sshd, tmp_root, known):
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    ih = eligible(ws, src.client())
    before = util.digest_tree(ws.src_save)
    util.write_config(ws, src, dst, dst_server=sshd, mode="sftp")
    known_hosts = ws.root / "known_hosts"
    if known == "empty":
        known_hosts.write_text("")
    elif known == "other key":
        known_hosts.write_text(f"[{sshd.host}]:{sshd.port} ssh-ed25519 "
                               "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    ws.config.write_text(ws.config.read_text().replace(str(sshd.known_hosts), str(known_hosts)))
    proc = util.run_hook(ws, ih)
    output = one_message(proc)
    assert proc.returncode == 1
    assert "ssh-keyscan" in output
    if known == "other key":
        assert "does NOT match" in output
    assert torrents.is_complete(src.client(), ih)
    assert util.digest_tree(ws.src_save) == before
    assert util.digest_tree(ws.dest) == {}
