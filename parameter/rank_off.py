"""rank_off: ablation of `faithful`: no ranking branch; conv4_1 keeps its plain top-80 channels by
regression score (TADT_SPEC.md A1, rank_mode='off').

Everything else as in `faithful`, so `faithful`, `rank_off` and `rank_trained` form the ranking ablation.
"""
from . import default, faithful


def tadt_params():
    return faithful.tadt_params().replace(rank_mode="off")


def parameters():
    return default.as_pytracking(tadt_params())
