"""default: the best-tracking configuration with torchvision's VGG16 weights.

The authors' algorithm (TADT_SPEC.md) with three measured changes (see README, "Accuracy"):
the first-frame regression sees the features scaled by 30 (`feature_scale`, spec section 12), the
ranking branch is left out (`rank_mode='off'`; as the authors coded it, it is a seeded random mask,
spec A1), and the Hann window weighs 1.5 instead of 1 (`window_weight`).  conv4_3 is pruned to the
selected channels (same output, less work) and CUDA is used when available.
"""
from tadt_plugin.params import TadtParams


def tadt_params() -> TadtParams:
    return TadtParams()


def as_pytracking(tp: TadtParams):
    """The values as a pytracking TrackerParams (imports pytracking, so only called by pytracking)."""
    from tadt_plugin.pytracking.params import to_tracker_params
    return to_tracker_params(tp)


def parameters():
    return as_pytracking(tadt_params())
