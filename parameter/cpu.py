"""cpu: the default configuration pinned to the CPU (for CPU-only runs or side-by-side timing
against a GPU run on the same machine).

Everything else as in `default`.
"""
from . import default


def tadt_params():
    return default.tadt_params().replace(device="cpu")


def parameters():
    return default.as_pytracking(tadt_params())
