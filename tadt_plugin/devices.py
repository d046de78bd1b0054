"""Device choice, in one place: "auto" picks CUDA when available; CUDA without a GPU falls back to
the CPU with one warning (or raises when ``strict_device`` is set).  No other module picks a device."""
from __future__ import annotations

import logging
import warnings

import torch

from .errors import DeviceError

log = logging.getLogger(__name__)
_warned = set()


def resolve_device(requested: str = "auto", strict: bool = False) -> torch.device:
    req = (requested or "auto").strip().lower()
    if req == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if req == "gpu":
        req = "cuda"
    try:
        dev = torch.device(req)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            msg = f"device {requested!r} asked for, but CUDA is not available on this machine"
            if strict:
                raise DeviceError(msg)
            if req not in _warned:
                _warned.add(req)
                warnings.warn(msg + "; falling back to the CPU", RuntimeWarning, stacklevel=2)
            return torch.device("cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {requested!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    elif dev.type != "cpu":
        raise DeviceError(f"unsupported device {requested!r}; use auto, cpu, cuda or cuda:N")
    return dev


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
