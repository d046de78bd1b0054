"""rank_trained: ablation: the ranking branch is trained with the pair loss oriented as the paper intends,
then conv4_1 keeps channels whose filter sums are positive (TADT_SPEC.md A1, rank_mode='trained').

Everything else as in `default`.
"""
from . import default


def tadt_params():
    return default.tadt_params().replace(rank_mode="trained")


def parameters():
    return default.as_pytracking(tadt_params())
