"""Device choice, in one place: "auto" picks CUDA when available; CUDA without a GPU falls back to
the CPU with one warning (or raises when ``strict_device`` is set).  No other module picks a device."""
from __future__ import annotations

import logging
import platform
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


def cpu_has_native_bf16() -> bool:
    """True when this x86 CPU computes bfloat16 natively (AVX512-BF16 or AMX); other CPUs emulate it.
    Unknown (older torch, non-x86) counts as native, so no warning is given on a guess."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not any(probes):
        return True
    return any(bool(f()) for f in probes if f is not None)


def check_dtype(device: torch.device, dtype: torch.dtype) -> None:
    """float16 is for CUDA; bfloat16 on a CPU without native support runs, but with one warning, because
    it is emulated and usually several times slower than float32 (measured: ~7x on an AVX2-only CPU)."""
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("dtype float16 is for CUDA; use bfloat16 or float32 on the CPU")
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16() and "bf16" not in _warned:
        _warned.add("bf16")
        warnings.warn("dtype bfloat16 asked for, but this CPU has no native bfloat16 (AVX512-BF16/AMX): it is "
                      "emulated and slower than float32 here; use dtype=float32", RuntimeWarning, stacklevel=3)
