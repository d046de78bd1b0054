"""The VOT supervised ("reset") protocol, offline: run a tracker with re-initialisation after each
failure, and score accuracy, failures, robustness and EAO the way the VOT toolkit does.

The rules are those of vot-toolkit 0.7.4 (``vot/experiment/multirun.py`` ``SupervisedExperiment`` and
``vot/analysis/supervised.py``), the version this project's VOT integration uses; the toolkit itself is
not needed (``tests/test_reset_protocol.py`` checks the figures against it when its venv exists):

* The tracker is initialised on frame 1 with the ground truth.  On every later frame its box is compared
  with the ground truth; an overlap ``<= failure_overlap`` (0) is a failure.  The tracker is then
  re-initialised ``skip_initialize`` (5) frames later, on that frame's ground truth.
* Overlap is VOT's rasterised overlap (:func:`vot_overlap`): both rectangles rounded to whole pixels,
  clipped to the image, intersection over union of pixel counts.  An absent (NaN) ground truth counts
  as overlap 0, as in the toolkit.
* Trajectory codes, as the toolkit's text results (``VOT_RESULTS_BINARY=0``): ``1`` initialisation,
  ``2`` failure, ``0`` frames skipped after a failure; other frames are ``x,y,w,h``.
* Accuracy: mean overlap over the frames that are neither skipped nor failures, leaving out the
  ``burnin`` (10) frames from each initialisation (the initialisation frame included).
* Robustness: failures, and VOT's AR-plot reliability ``R = exp(-sensitivity * failures / frames)``
  (sensitivity 30).  Means over sequences are weighted by sequence length, as the toolkit's.
* EAO: the runs between each initialisation and its failure (a failed run is padded with zeros to the
  longest run) give the expected average overlap curve; EAO is its mean over ``[low, high]`` frames,
  with the interval the VOT workspace builder uses (:func:`eao_interval`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

UNKNOWN, INITIALIZATION, FAILURE = 0, 1, 2
Entry = Union[int, List[float]]   # a status code or a box


def _pixel_bounds(box) -> Optional[Tuple[int, int, int, int]]:
    """Inclusive pixel bounds (left, top, right, bottom) of a rounded rectangle; None for no region."""
    if box is None or isinstance(box, int) or not np.all(np.isfinite(box)):
        return None
    x, y, w, h = np.round(np.asarray(box, dtype=np.float64))
    return int(x), int(y), int(round(x + w - 1)), int(round(y + h - 1))


def _pixels_in(b, win) -> Tuple[int, int, int, int]:
    """The part of b inside the window win (both inclusive bounds), as inclusive bounds (may be empty)."""
    return max(b[0], win[0]), max(b[1], win[1]), min(b[2], win[2]), min(b[3], win[3])


def _area(b) -> int:
    return max(0, b[2] - b[0] + 1) * max(0, b[3] - b[1] + 1)


def vot_overlap(a, b, image_wh: Optional[Tuple[int, int]] = None) -> float:
    """VOT toolkit's overlap of two rectangles (x, y, w, h), rasterised to pixels and bounded by the image
    (vot.region.raster.calculate_overlap, rectangle case).  A status code or NaN box is an empty region;
    two empty regions overlap 1 by the toolkit's definition."""
    ba, bb = _pixel_bounds(a), _pixel_bounds(b)
    empty = (0, 0, 0, 0)
    ua, ub = ba or empty, bb or empty
    union = (min(ua[0], ub[0]), min(ua[1], ub[1]), max(ua[2], ub[2]), max(ua[3], ub[3]))
    if union[0] >= union[2] or union[1] >= union[3]:
        return 1.0
    win = union
    if image_wh is not None:
        win = (max(0, union[0]), max(0, union[1]), min(image_wh[0] - 1, union[2]), min(image_wh[1] - 1, union[3]))
    if win[0] >= win[2] or win[1] >= win[3]:
        return 0.0
    pa = _pixels_in(ba, win) if ba else (0, 0, -1, -1)
    pb = _pixels_in(bb, win) if bb else (0, 0, -1, -1)
    inter = _area(_pixels_in(pa, pb))
    union_px = _area(pa) + _area(pb) - inter
    return inter / union_px if union_px > 0 else 0.0


# ------------------------------------------------------------------------------------------------ running
@dataclass
class ResetRun:
    trajectory: List[Entry]                 # per frame: status code or box
    times: List[float] = field(default_factory=list)   # seconds per frame (0 for skipped frames)

    @property
    def failures(self) -> int:
        return sum(1 for e in self.trajectory if e == FAILURE and isinstance(e, int))

    @property
    def inits(self) -> List[int]:
        return [i for i, e in enumerate(self.trajectory) if isinstance(e, int) and e == INITIALIZATION]


def run_reset(tracker, frame: Callable[[int], np.ndarray], gt: np.ndarray, skip_initialize: int = 5,
              failure_overlap: float = 0.0, image_wh: Optional[Tuple[int, int]] = None,
              progress=None) -> ResetRun:
    """Track frames 0..N-1 (``frame(i)`` returns RGB) under the reset protocol.  ``image_wh`` defaults to
    the first frame's size.  ``progress.update(k)`` is called with the frames done, skipped ones included."""
    import time
    n = len(gt)
    traj: List[Entry] = [UNKNOWN] * n
    times = [0.0] * n
    i = 0
    while i < n:
        img = frame(i)
        if image_wh is None:
            image_wh = (img.shape[1], img.shape[0])
        t = time.perf_counter()
        tracker.initialize(img, [float(v) for v in gt[i]])
        times[i] = time.perf_counter() - t
        traj[i] = INITIALIZATION
        _tick(progress)
        i += 1
        while i < n:
            img = frame(i)
            t = time.perf_counter()
            box, _conf = tracker.track(img)
            times[i] = time.perf_counter() - t
            _tick(progress)
            if vot_overlap(box, gt[i], image_wh) <= failure_overlap:
                traj[i] = FAILURE
                skipped = min(skip_initialize, n - i) - 1
                _tick(progress, skipped)
                i += skip_initialize
                break
            traj[i] = [float(v) for v in box]
            i += 1
    return ResetRun(traj, times)


def _tick(progress, k: int = 1) -> None:
    if progress is not None and k > 0:
        progress.update(k)


def format_trajectory(traj: Sequence[Entry]) -> List[str]:
    """VOT text-result lines: 1 / 2 / 0 for the status codes, x,y,w,h otherwise."""
    return [str(e) if isinstance(e, int) else ",".join(f"{v:.4f}" for v in e) for e in traj]


def parse_trajectory(lines: Sequence[str], path: str = "trajectory") -> List[Entry]:
    from .errors import TadtError
    out: List[Entry] = []
    for ln, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line in ("0", "1", "2"):
            out.append(int(line))
            continue
        try:
            vals = [float(v) for v in line.replace("\t", ",").replace(" ", ",").split(",") if v]
        except ValueError:
            vals = []
        if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
            raise TadtError(f"reset results file {path}, line {ln}: expected x,y,w,h or a VOT status line "
                            f"0/1/2, got {line[:60]!r}")
        out.append(vals)
    return out


# ------------------------------------------------------------------------------------------------ scoring
def overlaps(traj: Sequence[Entry], gt: np.ndarray, image_wh: Tuple[int, int]) -> np.ndarray:
    """Per-frame overlap; status codes overlap 0 (an empty region against a target)."""
    return np.array([vot_overlap(None if isinstance(e, int) else e, g, image_wh) for e, g in zip(traj, gt)])


def accuracy(traj: Sequence[Entry], ov: np.ndarray, burnin: int = 10) -> Tuple[float, int]:
    mask = np.ones(len(traj), dtype=bool)
    for i, e in enumerate(traj):
        if isinstance(e, int) and e == UNKNOWN:
            mask[i] = False
        elif isinstance(e, int) and e == INITIALIZATION:
            mask[i:i + burnin] = False
        elif isinstance(e, int) and e == FAILURE:
            mask[i] = False
    return (float(ov[mask].mean()), int(mask.sum())) if mask.any() else (0.0, 0)


def eao_runs(traj: Sequence[Entry], ov: np.ndarray) -> List[Tuple[np.ndarray, bool]]:
    """(overlaps from an initialisation up to its failure, tracked-to-the-end) per run, as the toolkit."""
    fails = [i for i, e in enumerate(traj) if isinstance(e, int) and e == FAILURE]
    inits = [i for i, e in enumerate(traj) if isinstance(e, int) and e == INITIALIZATION]
    if not fails:
        return [(ov, True)]
    runs = [(ov[inits[k]:fails[k]], False) for k in range(len(fails))]
    if len(inits) > len(fails):
        runs.append((ov[inits[-1]:], True))
    return runs


def eao_curve(runs: Sequence[Tuple[np.ndarray, bool]]) -> np.ndarray:
    """vot.analysis.supervised.compute_eao_curve with unit weights."""
    length = max(len(o) for o, _ in runs)
    ovs = np.zeros((len(runs), length), dtype=np.float32)
    mask = np.zeros((len(runs), length), dtype=np.float32)
    for k, (o, success) in enumerate(runs):
        ovs[k, :len(o)] = o
        mask[k, :] = 1 if not success else 0
        if success:
            mask[k, :len(o)] = 1
    running = ovs.copy()
    for j in range(1, length):
        running[:, j] = ovs[:, 1:j + 1].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (running * mask).sum(axis=0) / mask.sum(axis=0)


def eao_interval(lengths: Sequence[int]) -> Tuple[int, int]:
    """EAO interval [low, high] sized to the sequences (VOT's fixed intervals are longer than short
    sequences, which gives NaN); the VOT workspace builder writes the same into its stack."""
    low = max(5, int(round(0.25 * min(lengths))))
    return low, max(low + 5, int(round(0.9 * max(lengths))))


def eao_score(curve: np.ndarray, low: int, high: int) -> float:
    part = curve[low:high + 1]
    return float(np.nanmean(part)) if part.size and np.isfinite(part).any() else float("nan")


@dataclass
class ResetScore:
    accuracy: float
    failures: float
    frames: int
    robustness: float        # exp(-sensitivity * failures / frames)
    eao: float


def score_sequence(traj: Sequence[Entry], gt: np.ndarray, image_wh: Tuple[int, int], burnin: int = 10,
                   sensitivity: float = 30.0, interval: Optional[Tuple[int, int]] = None) -> Tuple[ResetScore, list]:
    """Scores of one sequence, and its EAO runs (for pooling over sequences)."""
    ov = overlaps(traj, gt, image_wh)
    acc, _ = accuracy(traj, ov, burnin)
    f = sum(1 for e in traj if isinstance(e, int) and e == FAILURE)
    runs = eao_runs(traj, ov)
    low, high = interval or eao_interval([len(gt)])
    return ResetScore(acc, f, len(gt), math.exp(-sensitivity * f / len(gt)), eao_score(eao_curve(runs), low, high)), runs


def pooled(scores: Sequence[ResetScore], runs: Sequence[list], sensitivity: float = 30.0,
           interval: Optional[Tuple[int, int]] = None) -> ResetScore:
    """Means as the toolkit's AverageAccuracyRobustness (weighted by length) and the pooled EAO."""
    w = np.array([s.frames for s in scores], dtype=float)
    acc = float((w * [s.accuracy for s in scores]).sum() / w.sum())
    fails = float((w * [s.failures for s in scores]).sum() / w.sum())
    length = w.sum() / len(scores)
    low, high = interval or eao_interval([s.frames for s in scores])
    all_runs = [r for rs in runs for r in rs]
    return ResetScore(acc, fails, int(w.sum()), math.exp(-sensitivity * fails / length),
                      eao_score(eao_curve(all_runs), low, high))


def total_failures(scores: Dict[str, ResetScore]) -> int:
    return int(sum(s.failures for s in scores.values()))
