"""Device and precision choice, in one place.

Device: "auto" picks CUDA when available; CUDA without a GPU falls back to the CPU with one warning
(or raises when ``strict_device`` is set).  No other module picks a device.

Precision (``dtype``): "auto" resolves per machine (:func:`resolve_dtype`): bfloat16 on a CPU that
computes it natively (AVX512-BF16 or AMX on x86, the ``bf16`` feature on Arm); int8 (quantized.py) on
an x86 CPU without it (AVX2: there bfloat16 is emulated, ~9x slower, README "Speed"); float32 on any
other CPU; float16 on CUDA.  The
choice is printed once per process (:func:`announce_dtype`); an explicit dtype overrides it."""
from __future__ import annotations

import logging
import platform
import sys
import warnings
from typing import Callable, Optional, Tuple

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
    """The torch dtype the float backbone runs in; "int8" keeps a float32 one (the first frame, and the
    model quantized.py quantizes per sequence)."""
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
            "int8": torch.float32}[name]


def cpu_capability() -> str:
    """The SIMD level PyTorch's CPU kernels were dispatched to here ("AVX512", "AVX2", "DEFAULT", ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch
        return "unknown"


def cpu_bf16_native() -> Optional[bool]:
    """True / False when known whether this CPU computes bfloat16 natively, None when it cannot be told.
    x86: PyTorch's own probes (AVX512-BF16, AMX tiles); Arm: the kernel's ``bf16`` CPU feature flag."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        probes = [f for f in probes if f is not None]
        return any(bool(f()) for f in probes) if probes else None
    if machine in ("aarch64", "arm64"):
        try:
            with open("/proc/cpuinfo") as f:
                return any(line.startswith("Features") and " bf16" in line for line in f)
        except OSError:
            return None
    return None


def cpu_has_native_bf16() -> bool:
    """True when this x86 CPU computes bfloat16 natively (AVX512-BF16 or AMX); other CPUs emulate it.
    Unknown (older torch, non-x86) counts as native, so no warning is given on a guess."""
    known = cpu_bf16_native()
    return True if known is None else known


def resolve_dtype(name: str, device: torch.device) -> Tuple[str, str]:
    """(dtype name, reason).  "auto": float16 on CUDA (tensor cores on every CUDA GPU since Volta; the
    selection and the matching stay float32), bfloat16 on a CPU with native bfloat16, else float32.
    Unlike :func:`cpu_has_native_bf16`, "auto" takes bfloat16 only when native support is positively
    detected.  Explicit names are returned unchanged."""
    if name != "auto":
        return name, "asked for"
    if device.type == "cuda":
        return "float16", "CUDA device"
    cap = cpu_capability()
    if cpu_bf16_native():
        return "bfloat16", f"CPU capability {cap} with native bfloat16"
    if int8_available():
        return "int8", f"CPU capability {cap} without native bfloat16, x86 int8 kernels"
    return "float32", f"CPU capability {cap} without native bfloat16"


def int8_available() -> bool:
    """True when this torch has an x86 quantized CPU engine (FBGEMM / oneDNN), the one dtype=int8 uses."""
    return platform.machine().lower() in ("x86_64", "amd64") and any(
        e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm", "onednn"))


def announce_dtype(chosen: str, reason: str, log: Optional[Callable[[str], None]] = None) -> None:
    """Print the automatic precision choice once per process (and per distinct choice)."""
    key = ("announce", chosen, reason)
    if key in _warned:
        return
    _warned.add(key)
    msg = f"tadt: dtype auto -> {chosen} ({reason}); override with --set dtype=float32|bfloat16|float16|int8"
    (log or (lambda m: print(m, file=sys.stderr)))(msg)


def check_int8(device: torch.device) -> None:
    """int8 runs through PyTorch's x86 quantized CPU kernels: CPU only, and this torch must have them."""
    if device.type != "cpu":
        raise ValueError("dtype int8 is for the CPU (PyTorch's x86 quantized kernels); use float16 on CUDA")
    if not int8_available():
        raise ValueError("dtype int8 needs PyTorch's x86 quantized engine on an x86 CPU; this build has "
                         f"{torch.backends.quantized.supported_engines} on {platform.machine()}")


def check_dtype(device: torch.device, dtype: torch.dtype) -> None:
    """float16 is for CUDA; bfloat16 on a CPU without native support runs, but with one warning, because
    it is emulated and usually several times slower than float32 (measured: ~7x on an AVX2-only CPU)."""
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("dtype float16 is for CUDA; use bfloat16 or float32 on the CPU")
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16() and "bf16" not in _warned:
        _warned.add("bf16")
        warnings.warn("dtype bfloat16 asked for, but this CPU has no native bfloat16 (AVX512-BF16/AMX): it is "
                      "emulated and slower than float32 here; use dtype=float32", RuntimeWarning, stacklevel=3)
