"""Shared fixtures.

Two kinds of sequences:

* generated ones (``synthetic_root``, ``short_seq``): OTB-layout folders written once per session from
  ``tadt_plugin.synthetic.SyntheticSequence`` (real photo texture, known ground truth).  Every test of the
  plumbing (CLI, resume/kill, TraX server, VOT workspace and toolkit, pytracking runner, bad input) uses
  these, always, so it runs -- and behaves the same -- on a fresh clone, for a packager or on CI.
* real footage (``seq_root``): ../shared/data (next to the checkout) or $TADT_SHARED_DATA; only the tests
  that measure the tracker on real footage need it, and they are skipped, with the reason shown, when absent.
"""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    env = os.environ.get("TADT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


SEQ_ROOT = shared_data() / "sequences"
RESULTS_ROOT = shared_data() / "results"


@pytest.fixture(scope="session")
def seq_root() -> Path:
    if not SEQ_ROOT.is_dir():
        pytest.skip(f"real sequences not found at {SEQ_ROOT} (set TADT_SHARED_DATA)")
    return SEQ_ROOT


@pytest.fixture(scope="session")
def crossing_float32(seq_root, tracker_factory):
    """Crossing's first 60 real frames tracked once a session by the factory's own tracker (float32,
    the parameter defaults): (frames, ground truth, boxes, (idx41, idx43) selected on the first frame).
    Tracking is causal, so the first n boxes are what an n-frame run gives; the tests that compare
    another precision or path with float32 on Crossing compare with this run."""
    from tadt_plugin.sequences import open_source, read_frame
    s = open_source(seq_root / "Crossing")
    frames, gt = [read_frame(p) for p in s.frames[:60]], s.ground_truth[:60]
    t = tracker_factory()
    t.initialize(frames[0], gt[0])
    selected = (t.state.idx41.clone(), t.state.idx43.clone())
    boxes = np.asarray([list(gt[0])] + [t.track(f)[0] for f in frames[1:]])
    return frames, gt, boxes, selected


# The generated sequences: name -> SyntheticSequence arguments (+ grey: written as grayscale JPEGs).
# Short and small (320x240-ish, 20-40 frames) so the plumbing tests stay cheap; different seeds, frame and
# target sizes so that no test depends on one particular picture.
SYNTHETIC = {
    "SynA": dict(n_frames=40, size=(320, 240), target=(48, 56), seed=1),
    "SynB": dict(n_frames=40, size=(352, 256), target=(40, 64), seed=2),
    "SynGrey": dict(n_frames=20, size=(320, 240), target=(52, 48), seed=3, grey=True),
}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A folder of generated OTB-layout sequences (see SYNTHETIC), written once per session.  Read-only by
    convention: a test that damages frames takes a private copy through ``short_seq``."""
    from tadt_plugin.synthetic import SyntheticSequence
    root = tmp_path_factory.mktemp("synthetic")
    for name, kw in SYNTHETIC.items():
        kw = dict(kw)
        grey = kw.pop("grey", False)
        SyntheticSequence(name=name, **kw).write_otb(root / name, grey=grey)
    return root


def make_short_otb(src: Path, dest: Path, n: int) -> Path:
    """An OTB-layout copy of the first n frames of src, ground truth cut.  Frames are copied, not
    symlinked, so a test that damages a frame can never write through to the shared data."""
    (dest / "img").mkdir(parents=True)
    frames = sorted((src / "img").iterdir())[:n]
    for f in frames:
        shutil.copyfile(f, dest / "img" / f.name)
    lines = (src / "groundtruth_rect.txt").read_text().splitlines()[:n]
    (dest / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return dest


@pytest.fixture
def short_seq(synthetic_root, tmp_path):
    """factory: short_seq('SynA', 30) -> a private copy (tmp_path/seqs/SynA) of the first 30 frames of the
    generated sequence SynA; the copies of one test share the parent folder, a root for `tadt run`."""
    def make(name: str, n: int) -> Path:
        assert n <= SYNTHETIC[name]["n_frames"], f"{name} has only {SYNTHETIC[name]['n_frames']} frames"
        return make_short_otb(synthetic_root / name, tmp_path / "seqs" / name, n)
    return make


@pytest.fixture(scope="session")
def tracker_factory():
    """Builds trackers that share one loaded set of weights (the backbone is built per tracker)."""
    from tadt_plugin.params import TadtParams
    from tadt_plugin.tracker import TadtTracker
    from tadt_plugin.weights import resolve_weights

    weights = resolve_weights()

    def make(**changes):
        # float32 unless a test asks otherwise: these tests check float32 numerics (pruning equality to
        # 1e-4, fast path vs original path); dtype="auto" picks bfloat16 on a CPU with native support,
        # and tests/test_precision.py covers that choice
        changes.setdefault("dtype", "float32")
        return TadtTracker(TadtParams(device="cpu", **changes), weights=weights)
    return make


@pytest.fixture(scope="session")
def rigid_zoom(tracker_factory):
    """Tracks the generated rigid target whose size swings by +-35% (90 frames) with a given tracker;
    returns (median |log(size / true size)|, mean IoU over frames 2..N).  The size estimators' tests
    (pyramid, scale filter, extent, calibrated penalties) compare on it.  ``rigid_zoom.baseline()`` is
    the same for the factory's own tracker (float32, the pyramid with the authors' penalties), tracked
    once a session: every size estimator is compared with that one run."""
    from tadt_plugin import metrics
    from tadt_plugin.synthetic import SyntheticSequence
    seq = SyntheticSequence(n_frames=90, seed=4, scale_amp=0.35)
    gt = seq.ground_truth()
    cache = {}

    def run(tracker):
        tracker.initialize(seq.frame(0), gt[0])
        boxes = np.asarray([gt[0]] + [tracker.track(seq.frame(i))[0] for i in range(1, len(seq))])
        size_err = np.median(np.abs(0.5 * np.log(boxes[:, 2] * boxes[:, 3] / (gt[:, 2] * gt[:, 3]))))
        return size_err, metrics.iou(boxes, gt)[1:].mean()

    def baseline():
        if "baseline" not in cache:
            tracker = tracker_factory()
            p = tracker.params   # what each estimator's test switches on is off here
            assert p.scale_estimator == "pyramid" and p.extent_lr == 0 and not p.scale_calibrate
            cache["baseline"] = run(tracker) + (tracker.penalties.tolist(),)
        return cache["baseline"]
    run.baseline = baseline
    return run


@pytest.fixture(scope="session")
def lookalike_crossing(tracker_factory):
    """(sequence, frames after the crossing, `robust`'s IoU per frame) on the generated crossing where a
    look-alike passes in front of the target (synthetic.CrossingSequence(tint=1.3)): `robust` follows
    the look-alike.  Tracked once a session; the tests of the options that keep the target (the
    appearance-vs-motion test, the distractor term) compare with it."""
    from tadt_plugin.synthetic import CrossingSequence
    from test_robust import robust_changes, run_crossing
    seq = CrossingSequence(tint=1.3)
    return seq, slice(int(seq.crossing) + 8, len(seq)), run_crossing(tracker_factory(**robust_changes()), seq)


def rgb_noise(h=240, w=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
