"""The `tadt` command end to end on short generated sequences (conftest.SYNTHETIC): outputs, errors, resume, evaluation."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tadt_plugin.sequences import load_boxes


def tadt(*args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    return subprocess.run([sys.executable, "-m", "tadt_plugin.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def test_track_writes_one_box_per_frame(short_seq, tmp_path):
    seq = short_seq("SynA", 12)
    out = tmp_path / "res" / "syna.txt"
    r = tadt("track", seq, "--out", out, "--device", "cpu", "--quiet", "--video", tmp_path / "o.avi")
    assert r.returncode == 0, r.stderr
    boxes = load_boxes(out)
    assert boxes.shape == (12, 4) and np.isfinite(boxes).all()
    assert "FPS" in r.stdout and "success AUC" in r.stdout
    assert (tmp_path / "o.avi").stat().st_size > 1000


@pytest.mark.parametrize("init,msg", [("0,0,0,0", "non-positive"), ("nan,1,5,5", "NaN"),
                                      ("9000,9000,20,20", "outside"), ("1,2,3", "four numbers")])
def test_bad_box_is_one_line_error_and_no_file(short_seq, tmp_path, init, msg):
    seq = short_seq("SynA", 3)
    out = tmp_path / "r.txt"
    r = tadt("track", seq, "--out", out, "--init", init, "--quiet")
    assert r.returncode == 2 and msg in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_unreadable_frame_mid_sequence_leaves_no_file(short_seq, tmp_path):
    seq = short_seq("SynA", 6)
    frame = seq / "img" / "0004.jpg"
    data = frame.read_bytes()
    frame.unlink()
    frame.write_bytes(data[:100])
    out = tmp_path / "r.txt"
    r = tadt("track", seq, "--out", out, "--quiet")
    assert r.returncode == 2 and "0004.jpg cannot be decoded" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_run_resumes_and_eval_compares(short_seq, tmp_path):
    short_seq("SynA", 10)
    root = short_seq("SynB", 10).parent
    out = tmp_path / "results"
    out.mkdir()
    earlier = "1,1,1,1\n" * 10
    (out / "SynB.txt").write_text(earlier)  # finished earlier (a full-length result): must be kept as it is
    r = tadt("run", root, "--out", out, "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "SynB: done already" in r.stdout and (out / "SynB.txt").read_text() == earlier
    assert load_boxes(out / "SynA.txt").shape == (10, 4)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    r = tadt("run", root, "--out", out, "--quiet")
    assert "SynA: done already" in r.stdout
    r = tadt("eval", root, "--results", out, "--compare", f"again={out}", "--plot", tmp_path / "s.png")
    assert r.returncode == 0, r.stderr
    assert "SynA" in r.stdout and "mean" in r.stdout and (tmp_path / "s.png").stat().st_size > 5000


def test_weights_command_names_the_source():
    r = tadt("weights", "--offline")
    assert r.returncode == 0 and "verified" in r.stdout


def test_unknown_parameter_set_is_named(short_seq, tmp_path):
    r = tadt("track", short_seq("SynA", 2), "--out", tmp_path / "r.txt", "--param", "nope")
    assert r.returncode == 2 and "unknown parameter set 'nope'" in r.stderr


def test_missing_weights_missing_frame_and_resized_frame_are_one_line_errors(short_seq, tmp_path):
    import cv2
    seq = short_seq("SynA", 5)
    out = tmp_path / "r.txt"
    r = tadt("track", seq, "--out", out, "--quiet", "--weights", tmp_path / "nope.pt")
    assert r.returncode == 2 and "nope.pt" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
    frame = seq / "img" / "0003.jpg"
    img = cv2.imread(str(frame))
    frame.unlink()  # never write through to the source (short_seq copies, but stay safe)
    cv2.imwrite(str(frame), img[: img.shape[0] // 2])  # the frame changes size mid-sequence
    r = tadt("track", seq, "--out", out, "--quiet")
    assert r.returncode == 2 and "size changed" in r.stderr and "Traceback" not in r.stderr and not out.exists()
    frame.unlink()  # ...and then goes missing
    r = tadt("track", seq, "--out", out, "--quiet")
    assert r.returncode == 2 and "0003.jpg" in r.stderr and "Traceback" not in r.stderr and not out.exists()


def test_bench_prints_stages_and_a_key_value_line(short_seq):
    r = tadt("bench", "--device", "cpu", "--sequences", short_seq("SynA", 5), "--bf16", "--compare-param", "plain")
    assert r.returncode == 0, r.stderr[-2000:]
    last = dict(kv.split("=", 1) for kv in r.stdout.strip().splitlines()[-1].split())
    # figures only (timings are the benchmark's business, not the tests': a loaded machine moves them)
    assert float(last["fps"]) > 0 and float(last["ratio_backbone"]) > 0 and float(last["bf16_fps"]) > 0
    assert "pyramid_correlation" in r.stdout and "regression" in r.stdout
    # default (robust) against plain on the same frames: a time ratio, and the re-detection share
    assert float(last["cost_vs_param"]) > 0 and 0 <= float(last["redetect_frac"]) <= 1
    assert "[default vs plain] time per frame ratio" in r.stdout
    r = tadt("bench", "--device", "cpu", "--long", "120")
    assert r.returncode == 0, r.stderr[-2000:]
    last = dict(kv.split("=", 1) for kv in r.stdout.strip().splitlines()[-1].split())
    assert float(last["rss_mb_120"]) > 0 and float(last["fps_last"]) > 0
