"""TADT parameter sets, one module each, in pytracking's parameter-file style.

Each module defines ``tadt_params()`` (a core :class:`~tadt_plugin.params.TadtParams`, no pytracking
needed) and ``parameters()`` (the same values as a pytracking ``TrackerParams``, for
``python run_tracker.py tadt <set>``).  Installed as ``tadt_plugin.parameter``.
"""
import importlib
import pkgutil


def available():
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str):
    """The TadtParams of parameter set `name`; ValueError listing the sets when it does not exist."""
    if name not in available():
        raise ValueError(f"unknown parameter set {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").tadt_params()
