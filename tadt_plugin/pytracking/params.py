"""TadtParams <-> pytracking ``TrackerParams``.

``to_tracker_params`` is what every parameter set's ``parameters()`` returns to pytracking
(``python run_tracker.py tadt <set>``): a ``pytracking.utils.TrackerParams`` carrying

* the attributes pytracking's framework reads or overwrites: ``debug = 0`` and ``visualization = False``
  (anything else crashes headless, INTEGRATION.md 1.9);
* pytracking's device convention: ``use_gpu`` (bool) and ``device`` (``'cuda'``, ``'cuda:N'`` or
  ``'cpu'``); TADT's ``device='auto'`` becomes CUDA only when ``torch.cuda.is_available()``;
* every :class:`~tadt_plugin.params.TadtParams` field under its own name, so a user's own parameter file
  can start from a set and change anything (``params = default.parameters(); params.rank_mode = 'off'``).

``from_tracker_params`` is the inverse, used by the adapter; ``use_gpu = False`` always means the CPU,
as in pytracking's stock trackers (``params.device = 'cuda' if params.use_gpu else 'cpu'``).
"""
from __future__ import annotations

import dataclasses

from ..params import TadtParams

FRAMEWORK_DEFAULTS = {"debug": 0, "visualization": False}


def _device_convention(device: str):
    import torch
    d = (device or "auto").strip().lower()
    if d == "auto":
        use_gpu = torch.cuda.is_available()
        return use_gpu, "cuda" if use_gpu else "cpu"
    if d in ("gpu", "cuda") or d.startswith("cuda:"):
        return True, "cuda" if d == "gpu" else d
    return False, d


def to_tracker_params(tp: TadtParams):
    """A pytracking TrackerParams with the framework's attributes and every TadtParams field."""
    from pytracking.utils import TrackerParams

    params = TrackerParams()
    for f in dataclasses.fields(tp):
        value = getattr(tp, f.name)
        if isinstance(value, dict):
            value = dict(value)
        setattr(params, f.name, value)
    for k, v in FRAMEWORK_DEFAULTS.items():
        setattr(params, k, v)
    params.use_gpu, params.device = _device_convention(tp.device)
    return params


def from_tracker_params(params) -> TadtParams:
    """The TadtParams a TrackerParams (or any attribute bag) describes; unknown attributes are ignored."""
    values = {k: getattr(params, k) for k in dir(params) if not k.startswith("_")
              and not callable(getattr(params, k))}
    use_gpu = values.get("use_gpu")
    device = values.get("device")
    if use_gpu is not None:
        if not use_gpu:
            device = "cpu"
        elif not (isinstance(device, str) and device.lower().startswith("cuda")):
            device = "cuda"
    if device is not None:
        values["device"] = str(device)
    return TadtParams.from_mapping(values)
