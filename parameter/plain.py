"""plain: TADT with torchvision's VGG16 and the three measured changes, without the robust pieces.

The `default` set before issue 14 (README "Accuracy"): the first-frame regression sees the features
scaled by 30 (`feature_scale`, spec section 12), the ranking branch is left out (`rank_mode='off'`; as
the authors coded it, it is a seeded random mask, spec A1), and the Hann window weighs 1.5 instead of 1
(`window_weight`).  No confidence signal, re-detection or template update: these are the values of
:class:`~tadt_plugin.params.TadtParams` itself.  `default` adds the robust pieces (README "Robustness").
"""
from tadt_plugin.params import TadtParams


def tadt_params() -> TadtParams:
    return TadtParams()


def parameters():
    from . import default
    return default.as_pytracking(tadt_params())
