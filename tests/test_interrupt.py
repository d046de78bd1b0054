"""Interruptions: killing `tadt run` mid-way leaves no partial result, and the rerun resumes."""
import os
import signal
import subprocess
import sys
import time

from tadt_plugin.sequences import load_boxes


def test_kill_mid_run_then_resume(short_seq, tmp_path):
    short_seq("SynA", 8)
    root = short_seq("SynB", 40).parent
    out = tmp_path / "res"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "tadt_plugin.cli", "run", str(root), "--out", str(out), "--quiet",
           "--device", "cpu", "--sequences", "SynA,SynB"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "SynA.txt").exists() and proc.poll() is None:
        time.sleep(0.2)
    assert (out / "SynA.txt").exists(), proc.communicate()[1]
    time.sleep(1.0)  # now inside SynB
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "SynB.txt").exists(), "a killed run must not leave a result for the unfinished sequence"
    assert load_boxes(out / "SynA.txt").shape == (8, 4)
    before = (out / "SynA.txt").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "SynA: done already" in r.stdout
    assert (out / "SynA.txt").stat().st_mtime_ns == before
    assert load_boxes(out / "SynB.txt").shape == (40, 4)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no stray temporary files
