"""mover.plan: building plans, refusing unsafe names, cross-seed sharing."""

import pytest

from mover import plan as plans
from mover.errors import ProvisioningError

HASH = "a" * 40

WEIRD_NAMES = [
    "Ünïcödé – 日本語 ☃/ファイル.mkv",
    "$(touch pwned)/a;b|c&d.txt",
    "quotes/it's \"quoted\" `whoami`.bin",
    "-leading-dash/--rf *.iso",
    "spaces  double/ tab\there .nfo",
    "new\nline.txt",
    "emoji 🎬/glob[1]?{a,b}~!#.mp4",
]


def build(files, save_path="/data/src", dst_root="/srv/dst", dst_save="/downloads"):
    return plans.build(HASH, "Name", "movies", ["t1", "t2"], save_path, files,
                       dst_root, dst_save)


def test_single_file():
    plan = build([("movie.mkv", 123)])
    (item,) = plan.files
    assert item == plans.FileItem("movie.mkv", 123, "/data/src/movie.mkv",
                                  "/srv/dst/movie.mkv")
    assert plan.total_size == 123
    assert plan.tags == ("t1", "t2")
    assert plan.dst_save_path == "/downloads"
    assert plan.src_save_path == "/data/src"


def test_multi_file_nested():
    files = [("Show/S01/e01.mkv", 10), ("Show/S01/e02.mkv", 20), ("Show/extras/a/b/c.txt", 3)]
    plan = build(files, save_path="/data/src/")
    assert [f.rel for f in plan.files] == [name for name, _ in files]
    assert [f.src for f in plan.files] == ["/data/src/" + n for n, _ in files]
    assert [f.dst for f in plan.files] == ["/srv/dst/" + n for n, _ in files]
    assert plan.total_size == 33
    assert plan.src_save_path == "/data/src"   # trailing slash dropped


def test_root_save_path():
    assert build([("a", 1)], save_path="/").src_save_path == "/"


def test_sizes_become_int():
    assert build([("a", "42")]).files[0].size == 42


@pytest.mark.parametrize("name", WEIRD_NAMES)
def test_weird_names_are_kept_byte_exact(name):
    (item,) = build([(name, 1)]).files
    assert item.rel == name
    assert item.src == "/data/src/" + name
    assert item.dst == "/srv/dst/" + name
    assert item.src.encode("utf-8") == b"/data/src/" + name.encode("utf-8")


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "..", ".", "",
                                  "a/..", "./../x", "..\\..\\etc\\passwd", "//etc/passwd",
                                  "a/b/../../../c"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ProvisioningError, match="unsafe"):
        plans.safe_relative(name)
    with pytest.raises(ProvisioningError):
        build([("ok.txt", 1), (name, 1)])


@pytest.mark.parametrize("name, expected", [("a/./b", "a/b"), ("a//b", "a/b"),
                                            ("a/b/../c", "a/c"), ("..foo", "..foo"),
                                            ("a/..b/c", "a/..b/c"), ("dir/", "dir")])
def test_harmless_names_are_normalised(name, expected):
    assert plans.safe_relative(name) == expected


def test_describe_lists_every_file():
    plan = build([("a/x.bin", 5), ("a/y.bin", 7)])
    lines = plan.describe()
    assert lines[0] == f"torrent  Name ({HASH})"
    assert "12 bytes in 2 file(s)" in lines[2]
    assert lines[-2:] == ["  a/x.bin  (5 bytes)", "  a/y.bin  (7 bytes)"]


def test_shared_files_finds_cross_seeded_files():
    plan = build([("Movie/movie.mkv", 100), ("Movie/movie.nfo", 1), ("Movie/sample.mkv", 5)])
    others = [
        ("/data/src", ["Movie/movie.mkv"]),                 # cross-seed, same save path
        ("/data/src/Movie/", ["sample.mkv", "other.txt"]),   # same file via a deeper path
        ("/elsewhere", ["Movie/movie.nfo"]),                # same name, other folder
    ]
    assert plans.shared_files(plan, others) == ["/data/src/Movie/movie.mkv",
                                                "/data/src/Movie/sample.mkv"]


def test_shared_files_none_and_normalisation():
    plan = build([("a/b.bin", 1)], save_path="/data//src/")
    assert plans.shared_files(plan, []) == []
    assert plans.shared_files(plan, [("/data/src/x/..", ["a/./b.bin"])]) == ["/data/src/a/b.bin"]
