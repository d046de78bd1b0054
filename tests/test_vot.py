"""VOT toolkit integration: workspace builder, TraX session logic, and the real toolkit end to end.

All on generated sequences (conftest.SYNTHETIC: no downloaded data needed).

The toolkit runs in its own venv (it pins a GUI OpenCV): created once under
$TADT_HOME/vot-toolkit-venv (default ~/.cache/tadt_plugin) by `tadt vot toolkit-venv` (vot-toolkit==0.7.4,
attributee==0.1.9, vot-trax and opencv-contrib for the CSRT example), reused afterwards; the end-to-end tests are skipped, with the reason shown, only
if it cannot be installed.
"""
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tadt_plugin.errors import TadtError
from tadt_plugin.vot_integration.workspace import (anchor_values, check_csrt_python, create_workspace,
                                                   summarize_analysis, write_trackers_ini)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def venv_dir() -> Path:
    home = Path(os.environ.get("TADT_HOME") or Path.home() / ".cache" / "tadt_plugin")
    return home / "vot-toolkit-venv"


def _venv_ready(v: Path) -> bool:
    py = str(v / "bin" / "python")
    if not (v / "bin" / "vot").exists() or subprocess.run([py, "-c", "import vot.workspace"],
                                                           capture_output=True).returncode != 0:
        return False
    try:
        check_csrt_python(py)  # the CSRT example entry's needs
    except TadtError:
        return False
    return True


@pytest.fixture(scope="session")
def vot_bin():
    v = venv_dir()
    v.parent.mkdir(parents=True, exist_ok=True)
    with open(v.parent / ".vot-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _venv_ready(v):  # the documented command: `tadt vot toolkit-venv DIR`
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(v)], check=True)
            r = subprocess.run([sys.executable, "-m", "tadt_plugin.vot_integration.cli", "toolkit-venv", str(v)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip(f"the VOT toolkit could not be installed: {(r.stdout + r.stderr).strip()[-300:]}")
    return v / "bin"


def test_workspace_is_idempotent_and_adds_sequences(short_seq, tmp_path):
    a, b = short_seq("SynA", 12), short_seq("SynB", 25)
    ws = tmp_path / "ws"
    assert create_workspace(ws, [a], threads=1) == ["SynA"]
    assert create_workspace(ws, [a, b]) == ["SynA", "SynB"]   # re-run adds, does not fail
    assert create_workspace(ws, []) == ["SynA", "SynB"]
    assert (ws / "sequences" / "list.txt").read_text().split() == ["SynA", "SynB"]
    seq = ws / "sequences" / "SynB"
    assert len(list((seq / "color").iterdir())) == 25
    assert len((seq / "groundtruth.txt").read_text().splitlines()) == 25
    assert "length=25" in (seq / "sequence").read_text()
    stack = (ws / "stack.yaml").read_text()
    assert "dataset" not in stack and "unsupervised" in stack and "supervised" in stack and "multistart" in stack
    ini = (ws / "trackers.ini").read_text()
    assert "[TADT]" in ini and sys.executable in ini and "timeout = 300" in ini
    write_trackers_ini(ws / "trackers.ini", "Other", {"label": "x", "protocol": "trax", "command": "y"})
    create_workspace(ws, [])
    assert "[Other]" in (ws / "trackers.ini").read_text()  # foreign entries are kept


def test_anchors():
    v = anchor_values(81)
    assert v[0] == "1" and v[40] == "1" and v[80] == "-1" and v.count("0") == 78


def test_session_reinitialises_in_process(synthetic_root, tracker_factory):
    trax = pytest.importorskip("trax", reason="vot-trax is not installed (pip install 'tadt-plugin[vot]')")
    from tadt_plugin.vot_integration.server import Session, region_to_box
    assert region_to_box(trax.Rectangle.create(1.5, 2, 30, 40)) == [1.5, 2.0, 30.0, 40.0]
    poly = trax.Polygon.create([(10.0, 20.0), (50.0, 22.0), (48.0, 60.0), (9.0, 58.0)])
    assert region_to_box(poly) == [9.0, 20.0, 41.0, 40.0]
    frames = sorted((synthetic_root / "SynA" / "img").iterdir())[:4]
    gt = np.loadtxt(synthetic_root / "SynA" / "groundtruth_rect.txt", delimiter=",")
    s = Session(tracker_factory())
    for _ in range(2):  # a reset re-initialises the same tracker object
        s.initialize(str(frames[0]), gt[0])
        for f in frames[1:]:
            box, conf = s.frame(str(f))
            assert np.all(np.isfinite(box)) and 0 <= conf <= 1
    assert s.inits == 2 and s.frames == 6


def _workspace(tmp_path, src, env_log):
    ws = tmp_path / "ws"
    create_workspace(ws, [src], threads=2)
    ini = ws / "trackers.ini"
    ini.write_text(ini.read_text().rstrip() + f"\nenv_TADT_VOT_LOG = {env_log}\n")
    return ws


def test_toolkit_end_to_end(vot_bin, short_seq, tmp_path):
    log = tmp_path / "tracker.log"
    ws = _workspace(tmp_path, short_seq("SynB", 20), log)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    r = subprocess.run([str(vot_bin / "vot"), "evaluate", "TADT"], cwd=ws, capture_output=True, text=True,
                       env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for exp in ("baseline", "reset", "multistart"):
        assert list((ws / "results" / "TADT" / exp / "SynB").glob("*.bin")), exp
    lines = log.read_text().splitlines()
    starts = {ln.split("]")[0] for ln in lines if "TADT loaded" in ln}
    inits = [ln for ln in lines if "initialisation" in ln]
    assert len(starts) <= 3 < len(inits), "one process per experiment run, re-initialised in-process"
    r = subprocess.run([str(vot_bin / "vot"), "analysis", "TADT", "--name", "t", "--format", "json"], cwd=ws,
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    summary = summarize_analysis(ws / "analysis" / "t.json")
    acc = [float(x.split("accuracy")[1].split()[0]) for x in summary.splitlines() if "accuracy" in x]
    assert len(acc) == 3 and all(0.3 < a <= 1 for a in acc), summary
    assert "EAO" in summary
    r = subprocess.run([str(vot_bin / "vot"), "test", "TADT"], cwd=ws, capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_unreadable_frame_ends_the_session_cleanly(vot_bin, short_seq, tmp_path):
    log = tmp_path / "tracker.log"
    src = short_seq("SynA", 6)
    ws = _workspace(tmp_path, src, log)
    frame = ws / "sequences" / "SynA" / "color" / "00000003.jpg"
    frame.unlink()
    frame.write_bytes(b"not a jpeg")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    r = subprocess.run([str(vot_bin / "vot"), "evaluate", "TADT", "--experiments", "baseline"], cwd=ws,
                       capture_output=True, text=True, env=env, timeout=600)  # must not hang
    assert r.returncode != 0 or "rror" in r.stdout + r.stderr
    assert "00000003.jpg cannot be decoded" in log.read_text()


def _has_csrt():
    from tadt_plugin.vot_integration.csrt_server import csrt_factory  # imports trax: call after importorskip
    return csrt_factory() is not None


def test_with_csrt_checks_the_interpreter_first(short_seq, tmp_path):
    """`--with-csrt PY` refuses an interpreter that cannot run the CSRT example, naming the fix, and
    leaves no half-made workspace; an interpreter that can gets the [CSRT] entry."""
    from tadt_plugin.errors import TadtError
    src = short_seq("SynA", 6)
    with pytest.raises(TadtError, match="cannot run"):
        create_workspace(tmp_path / "a", [src], csrt_python=str(tmp_path / "no-such-python"))
    assert not (tmp_path / "a").exists()
    pytest.importorskip("trax", reason="vot-trax is not installed (pip install 'tadt-plugin[vot]')")
    if _has_csrt():
        create_workspace(tmp_path / "b", [src], csrt_python=sys.executable)
        assert "[CSRT]" in (tmp_path / "b" / "trackers.ini").read_text()
    else:  # this environment's OpenCV has no contrib modules (the plain opencv-python wheel)
        with pytest.raises(TadtError, match="no CSRT.*opencv-contrib-python-headless"):
            create_workspace(tmp_path / "b", [src], csrt_python=sys.executable)
        assert not (tmp_path / "b").exists()


def test_csrt_server_without_contrib_quits_with_the_fix(synthetic_root, tmp_path):
    """The CSRT example server, run where OpenCV has no CSRT, ends the TraX session with a reason that
    says what to install (instead of an AttributeError traceback in the toolkit's log)."""
    trax = pytest.importorskip("trax", reason="vot-trax is not installed (pip install 'tadt-plugin[vot]')")
    from trax.client import Client
    if _has_csrt():
        pytest.skip("this environment's OpenCV has CSRT; the missing-contrib path cannot be tried here")
    from tadt_plugin.vot_integration import workspace
    script = Path(workspace.__file__).with_name("csrt_server.py")
    err = tmp_path / "csrt.err"
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(err, "w"))
    client = Client(stream=(proc.stdin.fileno(), proc.stdout.fileno()), log=lambda *a: None)
    frame = sorted((synthetic_root / "SynA" / "img").iterdir())[0]
    with pytest.raises(trax.TraxException, match="opencv-contrib-python-headless"):
        client.initialize({"color": trax.FileImage.create(str(frame))},
                          [(trax.Rectangle.create(10.0, 10.0, 30.0, 30.0), {})], {})
    assert proc.wait(timeout=60) == 2
    assert "no CSRT" in err.read_text() and "Traceback" not in err.read_text()


def test_csrt_example_entry_runs_in_the_toolkit(vot_bin, short_seq, tmp_path):
    """The documented second tracker: the toolkit venv made by `tadt vot toolkit-venv` runs the CSRT
    example entry beside TADT's (baseline experiment, a short generated sequence)."""
    ws = tmp_path / "ws"
    create_workspace(ws, [short_seq("SynB", 20)], csrt_python=str(vot_bin / "python"))
    r = subprocess.run([str(vot_bin / "vot"), "evaluate", "CSRT", "--experiments", "baseline"], cwd=ws,
                       capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"), timeout=600)
    assert r.returncode == 0 and "error" not in (r.stdout + r.stderr).lower(), r.stdout[-2000:] + r.stderr[-2000:]
    res = ws / "results" / "CSRT" / "baseline" / "SynB"
    assert (res / "SynB_001.bin").is_file()
    times = (res / "SynB_001_time.value").read_text().split()
    assert len(times) == 20, times   # one reply per frame
