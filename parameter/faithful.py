"""faithful: the authors' algorithm as their MATLAB code runs it (TADT_SPEC.md), on torchvision's weights.

Ranking branch as coded by the authors (one backward pass at seeded random weights, spec A1) and the
Hann window with weight 1.  Only the regression's feature scale (30, spec section 12) differs, because
torchvision's activations are ~30x smaller than those the authors' hyper-parameters were tuned for.
"""
from . import default, plain


def tadt_params():
    return plain.tadt_params().replace(rank_mode="faithful", window_weight=1.0)


def parameters():
    return default.as_pytracking(tadt_params())
