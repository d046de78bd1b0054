"""default: the best-tracking configuration with torchvision's VGG16 weights: the `robust` set.

`plain` (TADT with three measured changes: the first-frame regression sees the features scaled by 30,
spec section 12; no ranking branch, spec A1; Hann window weight 1.5, README "Accuracy") plus the robust
pieces (relative confidence, re-detection over a wider window on low-confidence frames, an anchored
template update on confident frames; README "Robustness"), which beat `plain` on both the dev mean
AUC and the reset failures.  conv4_3 is pruned to the selected channels (same output, less work) and
CUDA is used when available.  `python run_tracker.py tadt default` and VOT's `TADT` entry use it.
"""
from tadt_plugin.params import TadtParams

from . import robust


def tadt_params() -> TadtParams:
    return robust.tadt_params()


def as_pytracking(tp: TadtParams):
    """The values as a pytracking TrackerParams (imports pytracking, so only called by pytracking)."""
    from tadt_plugin.pytracking.params import to_tracker_params
    return to_tracker_params(tp)


def parameters():
    return as_pytracking(tadt_params())
