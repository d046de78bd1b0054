"""tadt_plugin.atomicfile: every file the project writes is complete or absent, with the permissions a
plain write gives (umask respected, an existing file's mode kept), never the 0600 of a temporary file."""
import os
import stat
import subprocess
import sys

import pytest

from tadt_plugin.atomicfile import atomic_dir, atomic_path, atomic_write
from tadt_plugin.sequences import write_boxes_atomic
from tadt_plugin.synthetic import SyntheticSequence


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask,expect", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_mode_follows_umask(tmp_path, umask, mask, expect):
    umask(mask)
    atomic_write(tmp_path / "a.txt", "x\n")
    write_boxes_atomic(tmp_path / "b.txt", [[1, 2, 3, 4]])
    with atomic_path(tmp_path / "c.bin") as tmp:
        tmp.write_bytes(b"\0")
    for name in ("a.txt", "b.txt", "c.bin"):
        assert mode(tmp_path / name) == expect, name
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("y")
    assert mode(tmp_path / "d") == 0o777 & ~mask
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt", "c.bin", "d"]   # no temporaries left


def test_replacing_keeps_the_existing_mode(tmp_path, umask):
    p = tmp_path / "r.txt"
    p.write_text("old\n")
    p.chmod(0o640)
    atomic_write(p, "new\n")
    assert p.read_text() == "new\n" and mode(p) == 0o640


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "r.txt"
    atomic_write(p, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("y")
            raise RuntimeError("crash mid-build")
    assert p.read_text() == "old\n" and os.listdir(tmp_path) == ["r.txt"]


def test_atomic_dir_replaces_an_existing_folder(tmp_path):
    with atomic_dir(tmp_path / "d") as d:
        (d / "old").write_text("1")
    with atomic_dir(tmp_path / "d") as d:
        (d / "new").write_text("2")
    assert os.listdir(tmp_path / "d") == ["new"]


def test_cli_results_are_readable_by_others(tmp_path):
    """`tadt run` and `tadt eval` write their files with the caller's umask (here 0o002 -> 0o664)."""
    SyntheticSequence(n_frames=4).write_otb(str(tmp_path / "seqs" / "Demo"))
    env = dict(os.environ, TADT_OFFLINE="1")

    def tadt(*args):
        return subprocess.run([sys.executable, "-m", "tadt_plugin.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=600, env=env, preexec_fn=lambda: os.umask(0o002))

    r = tadt("run", tmp_path / "seqs", "--out", tmp_path / "out", "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr[-2000:]
    r = tadt("eval", tmp_path / "seqs", "--results", tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["Demo.txt", "Demo_time.txt", "success_plot.png"]
    for name in files:
        assert mode(tmp_path / "out" / name) == 0o664, name
