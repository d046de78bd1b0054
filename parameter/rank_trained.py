"""rank_trained: ablation of `faithful`: the ranking branch is trained with the pair loss oriented as the
paper intends, then conv4_1 keeps channels whose filter sums are positive (TADT_SPEC.md A1).

Everything else as in `faithful`, so `faithful`, `rank_off` and `rank_trained` form the ranking ablation.
"""
from . import default, faithful


def tadt_params():
    return faithful.tadt_params().replace(rank_mode="trained")


def parameters():
    return default.as_pytracking(tadt_params())
