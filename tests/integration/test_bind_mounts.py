"""Files another source torrent reaches by a real bind mount stay (issue 8,
cleanup's device-and-inode rule): the mover tells a bind mount, one directory
entry at two paths, from a hard link, another entry whose name keeps the data.
Needs root (mount), as the rest of ``make test``."""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager

import pytest

KiB = 1024

from tests.unit.conftest import state_dir  # noqa: F401 - autouse: journals in tmp_path
from tests.unit.test_safety_parts import kept_beside


@contextmanager
def bind(source, target):
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


def with_library_link(path):
    """Write ``path`` with a second link in a media library beside it (nlink 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 1000)
    library = path.parent.parent / "library"
    library.mkdir(exist_ok=True)
    os.link(path, library / path.name)


@pytest.mark.parametrize("char", ["", "\r", "\x0c", "\u2028"])
def test_our_file_bind_mounted_into_a_cross_seed_folder_is_kept(tmp_path, char):
    """Our file, hard-linked in a library, bind-mounted into a cross-seed folder
    (whose name may hold a line separator other than newline): kept, or the
    cross-seed would find an empty stub when the mount is made again."""
    ours = tmp_path / "A" / "ep.mkv"
    with_library_link(ours)
    theirs = tmp_path / f"cross{char}seeds" / "ep.mkv"
    theirs.parent.mkdir()
    theirs.write_bytes(b"")
    with bind(ours, theirs):
        assert kept_beside(str(ours), str(theirs))


def test_our_path_being_the_mount_point_is_kept(tmp_path):
    """Their file (library-linked) is bind-mounted onto our path: our path is a
    mount point, which cannot be deleted (EBUSY on every run): kept."""
    theirs = tmp_path / "B" / "ep.mkv"
    with_library_link(theirs)
    ours = tmp_path / "A" / "ep.mkv"
    ours.parent.mkdir()
    ours.write_bytes(b"")
    with bind(theirs, ours):
        assert kept_beside(str(ours), str(theirs))


def test_a_hard_link_in_another_folder_is_not_kept(tmp_path):
    ours = tmp_path / "A" / "ep.mkv"
    with_library_link(ours)
    theirs = tmp_path / "cross-seeds" / "ep.mkv"
    theirs.parent.mkdir()
    os.link(ours, theirs)
    assert not kept_beside(str(ours), str(theirs))


@pytest.mark.parametrize("own_file", [False, True], ids=["same-files", "a-file-of-its-own"])
def test_a_cross_seed_in_a_bind_mount_of_our_folder(tmp_path, own_file):
    """B is A's folder seen through a bind mount (another save path, the same
    files by device and inode, the same relative paths): it moves with A, and
    nothing is deleted through the mount before both are verified. With a
    file A does not have, B would need that file copied from its own folder:
    it stays, whole."""
    from tests.unit.fakes import World
    from tests.unit.machine import full_copy, make_config, run
    from tests.unit.test_groups import GroupGuard, add, no_files, write_show
    world = World()
    cfg = make_config(tmp_path)
    save, mount = tmp_path / "src", tmp_path / "mnt"
    write_show(save / "Show", nfo=own_file)
    mount.mkdir()
    with bind(save, mount):
        a = add(world, save / "Show", save, 16 * KiB, "move", ("tv",), exclude=["*.nfo"])
        b = add(world, mount / "Show", mount, 32 * KiB, "move", ("cross",))
        a.dest = b.dest = str(tmp_path / "dest")
        with GroupGuard(world, [a, b], [a] if own_file else [a, b]):
            run(world, cfg, a.hash)
        if own_file:
            assert b.hash in world.src.t and full_copy(b, b.src_save)
            assert b.hash not in world.dst.t
        else:
            assert world.src.t == {} and no_files(save)
            assert full_copy(b, b.dest) and b.hash in world.dst.t


def test_a_file_bind_mounted_into_another_torrents_folder_is_kept(tmp_path):
    """Another torrent's folder holds our file through a file bind mount (its
    folder lists the empty file below the mount, so no scan of it sees our
    inode): the mount point is found in the mount table, and our file stays."""
    from types import SimpleNamespace as NS
    from mover import cleanup
    from mover.endpoints.local import LocalEndpoint
    from mover.qbit import Torrent
    ours = tmp_path / "dl" / "Pack" / "a.mkv"
    with_library_link(ours)
    view = tmp_path / "xs" / "Pack" / "a.mkv"
    view.parent.mkdir(parents=True)
    view.write_bytes(b"")
    other = Torrent(hash="b" * 40, name="Pack", save_path=str(tmp_path / "xs"),
                    content_path=str(tmp_path / "xs" / "Pack"), state="uploading",
                    progress=1.0, category="other", tags=(), size=1000, amount_left=0)
    client = NS(files=lambda h: [NS(name="Pack/a.mkv")])
    with bind(ours, view):
        shared = cleanup._shared(client, LocalEndpoint(), [str(ours)], str(ours.parent),
                                 [other])
    assert shared == [str(ours)]


def test_thousands_of_hard_linked_files_are_found_over_ssh(tmp_path, sshd):
    """A discography with 10,000 files, each hard-linked (a *arr library) and
    rebuilt in a cross-seed's folder: the server's scan finds every other name
    (its command does not grow with the number of files)."""
    from mover.endpoints import identity
    from mover.endpoints.local import LocalEndpoint
    from mover.endpoints.ssh import SshEndpoint
    from tests.integration.test_segmented import server_of
    ours, cross = tmp_path / "A", tmp_path / "cross" / "Pack"
    ours.mkdir()
    cross.mkdir(parents=True)
    keys = set()
    for index in range(10_000):
        path = ours / f"track {index:05d}.flac"
        path.write_bytes(b"x")
        os.link(path, cross / path.name)
        st = path.stat()
        keys.add((st.st_dev, st.st_ino))
    here = identity.hard_links_under(LocalEndpoint(), [str(cross)], keys)
    endpoint = SshEndpoint(server_of(sshd))
    try:
        there = identity.hard_links_under(endpoint, [str(cross)], keys)
    finally:
        endpoint.close()
    assert len(here) == 10_000 and sorted(there) == sorted(here)
