"""default: the best-tracking configuration (the authors' algorithm with torchvision's VGG16 weights).

Faithful to the authors' MATLAB code (TADT_SPEC.md) except where these weights require otherwise:
the first-frame regression sees the features scaled by 30 (spec section 12, `feature_scale`), conv4_3
is pruned to the selected channels (same output, less work), and CUDA is used when available.
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
