"""rank_off: ablation: no ranking branch; conv4_1 keeps the plain top-80 channels by regression score
(TADT_SPEC.md A1, rank_mode='off').

Everything else as in `default`.
"""
from . import default


def tadt_params():
    return default.tadt_params().replace(rank_mode="off")


def parameters():
    return default.as_pytracking(tadt_params())
