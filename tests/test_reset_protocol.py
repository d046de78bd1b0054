"""The VOT reset (supervised) protocol offline (tadt_plugin/reset_protocol.py, `tadt run|eval --protocol
reset`), on a generated sequence whose ground truth jumps away twice, and checked against the real VOT
toolkit (0.7.4, its own venv, made by the VOT tests' fixture) when that venv can be built."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tadt_plugin import reset_protocol as rp
from tadt_plugin.sequences import load_boxes, write_boxes_atomic
from tadt_plugin.synthetic import SyntheticSequence

from test_vot import vot_bin  # noqa: F401  (the toolkit venv fixture)

N, JUMPS, SKIP = 50, (12, 30), 5


@pytest.fixture(scope="module")
def jump_seq(tmp_path_factory):
    """A generated 50-frame sequence whose ground truth, on frames 12 and 30 (0-based), jumps to a 16 px box
    in the image corner farthest from the target: a tracker that follows the target fails exactly there."""
    root = tmp_path_factory.mktemp("reset") / "seqs"
    seq = SyntheticSequence(n_frames=N, seed=3, name="Jumps")
    seq.write_otb(str(root / "Jumps"))
    gt = seq.ground_truth()
    for j in JUMPS:
        cx, cy = gt[j, 0] + gt[j, 2] / 2, gt[j, 1] + gt[j, 3] / 2
        gt[j] = [seq.W - 17 if cx < seq.W / 2 else 1, seq.H - 17 if cy < seq.H / 2 else 1, 16, 16]
        assert rp.vot_overlap(seq.box(j), gt[j], (seq.W, seq.H)) == 0
    write_boxes_atomic(root / "Jumps" / "groundtruth_rect.txt", gt)
    return root


def tadt(*args):
    return subprocess.run([sys.executable, "-m", "tadt_plugin.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, TADT_OFFLINE="1"))


@pytest.fixture(scope="module")
def offline(jump_seq, tmp_path_factory):
    out = tmp_path_factory.mktemp("reset_out")
    r = tadt("run", jump_seq, "--out", out, "--protocol", "reset", "--device", "cpu", "--threads", "2", "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r.stdout


def test_failures_reinitialisations_and_burn_in(jump_seq, offline):
    out, stdout = offline
    traj = rp.parse_trajectory((out / "Jumps.txt").read_text().splitlines())
    assert len(traj) == N and "Jumps: failures 2," in stdout
    codes = {i: e for i, e in enumerate(traj) if isinstance(e, int)}
    inits = [0] + [j + SKIP for j in JUMPS]
    skipped = [k for j in JUMPS for k in range(j + 1, j + SKIP)]
    assert codes == {**{i: rp.INITIALIZATION for i in inits}, **{j: rp.FAILURE for j in JUMPS},
                     **{k: rp.UNKNOWN for k in skipped}}
    times = np.loadtxt(out / "Jumps_time.txt")
    assert len(times) == N and all(times[k] == 0 for k in skipped) and all(times[i] > 0 for i in inits)
    # accuracy: the frames from 10 frames after each initialisation, never a failure or skipped frame
    gt = load_boxes(jump_seq / "Jumps" / "groundtruth_rect.txt")
    scored = [i for i in range(N) if i not in codes and not any(s <= i < s + 10 for s in inits)]
    assert scored == list(range(10, 12)) + list(range(27, 30)) + list(range(45, 50))
    expect = np.mean([rp.vot_overlap(traj[i], gt[i], (320, 240)) for i in scored])
    sc, runs = rp.score_sequence(traj, gt, (320, 240))
    assert sc.failures == 2 and sc.accuracy == pytest.approx(expect) and sc.accuracy > 0.5
    assert sc.robustness == pytest.approx(np.exp(-30 * 2 / N))
    assert [len(o) for o, _ in runs] == [12, 13, 15] and [ok for _, ok in runs] == [False, False, True]

    r = tadt("eval", jump_seq, "--results", out, "--protocol", "reset", "--compare", f"again={out}")
    assert r.returncode == 0, r.stderr
    row = [ln for ln in r.stdout.splitlines() if ln.startswith("Jumps")][0].split("|")
    assert row[1].split()[:2] == ["2", f"{sc.accuracy:.3f}"] and row[1].strip() == row[2].strip()


def test_overlap_equals_the_toolkits_on_random_rectangles(vot_bin):
    rng = np.random.default_rng(1)
    pairs = []
    for k in range(400):
        a = np.r_[rng.uniform(-40, 340, 2), rng.uniform(-2, 70, 2)]
        b = a + np.r_[rng.uniform(-15, 15, 2), rng.uniform(-4, 4, 2)] if k % 2 else \
            np.r_[rng.uniform(-40, 340, 2), rng.uniform(-2, 70, 2)]
        pairs.append([a.tolist(), b.tolist()])
    code = ("import json,sys\nfrom vot.region import calculate_overlap\nfrom vot.region.shapes import Rectangle\n"
            "p=json.loads(sys.stdin.read())\n"
            "print(json.dumps([calculate_overlap(Rectangle(*a),Rectangle(*b),(320,240)) for a,b in p]))")
    r = subprocess.run([str(vot_bin / "python"), "-c", code], input=json.dumps(pairs), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    theirs = json.loads(r.stdout)
    ours = [rp.vot_overlap(a, b, (320, 240)) for a, b in pairs]
    assert sum(o == 0 for o in theirs) > 50   # the failure case is well represented
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_same_failures_and_accuracy_as_the_vot_toolkit(vot_bin, jump_seq, offline, tmp_path):
    """`vot evaluate` (reset experiment, TADT through TraX) on the same sequence: the failure count agrees
    exactly, accuracy within 0.02 (the toolkit's analysis)."""
    from tadt_plugin.vot_integration.workspace import create_workspace, stack_yaml
    out, _ = offline
    ws = tmp_path / "ws"
    full = stack_yaml([N]).splitlines()   # the workspace's own stack, reset experiment only (analysis wants
    start = full.index("  reset:")        # every experiment of the stack to be complete)
    end = next(i for i in range(start + 1, len(full)) if full[i].startswith("  ") and not full[i].startswith("   "))
    (tmp_path / "stack.yaml").write_text("\n".join(full[:2] + full[start:end]) + "\n")
    create_workspace(ws, [jump_seq / "Jumps"], stack=str(tmp_path / "stack.yaml"), threads=2)
    env = dict(os.environ, PYTHONWARNINGS="ignore", VOT_RESULTS_BINARY="0")
    r = subprocess.run([str(vot_bin / "vot"), "evaluate", "TADT", "--experiments", "reset"], cwd=ws,
                       capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    theirs = (ws / "results" / "TADT" / "reset" / "Jumps" / "Jumps_001.txt").read_text().split()
    ours = (out / "Jumps.txt").read_text().split()
    assert [x for x in theirs if x in ("0", "1", "2")] == [x for x in ours if x in ("0", "1", "2")]
    assert [i for i, x in enumerate(theirs) if x == "2"] == list(JUMPS)
    r = subprocess.run([str(vot_bin / "vot"), "analysis", "TADT", "--name", "r", "--format", "json"], cwd=ws,
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    d = json.loads((ws / "analysis" / "r.json").read_text())["results"]["reset"]
    kinds = [a["type"].rsplit(".", 1)[-1] for a in d["parameters"]["analyses"]]
    acc_t, fail_t = d["results"][kinds.index("AverageAccuracyRobustness")][0][:2]
    gt = load_boxes(jump_seq / "Jumps" / "groundtruth_rect.txt")
    sc, _ = rp.score_sequence(rp.parse_trajectory(ours), gt, (320, 240))
    assert fail_t == sc.failures == 2
    assert abs(acc_t - sc.accuracy) <= 0.02, (acc_t, sc.accuracy)
    # the toolkit's own trajectory scored by our code gives its accuracy (same rules, not just close)
    sc_t, _ = rp.score_sequence(rp.parse_trajectory(theirs), gt, (320, 240))
    assert sc_t.accuracy == pytest.approx(acc_t, abs=1e-6)
