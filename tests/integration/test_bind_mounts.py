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
