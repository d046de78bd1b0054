"""Siamese matching on the selected features (TADT_SPEC.md section 5).

Per frame: a 3-scale pyramid built in feature space (5.2), one batched cross-correlation with the
template (5.3), normalisation by the joint maximum, bicubic upsampling to the window size in px plus
an additive Hann window (5.4), penalised scale choice and the arg-max (5.5).  Everything stays on
the device; :func:`locate` returns one small tensor that is the only device-to-host transfer.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F


def scale_factors(feat: int, step: int = 2, mode: str = "faithful") -> Tuple[float, float, float]:
    """[45/47, 1, 45/43] as the authors hard-code them, or F/(F+2), 1, F/(F-2) (spec A4)."""
    if mode == "adaptive":
        return feat / (feat + step), 1.0, feat / (feat - step)
    return 45 / 47, 1.0, 45 / 43


def pyramid(x: torch.Tensor, step: int = 2) -> torch.Tensor:
    """x: 1 x C x F x F -> 3 x C x F x F: [grown to F+step then centre-cropped, x, shrunk to F-step and
    zero-padded], with corner-aligned bilinear resizing (vl_nnbilinearsampler, spec 5.2)."""
    Fh, Fw = x.shape[-2:]
    h = step // 2
    big = F.interpolate(x, size=(Fh + step, Fw + step), mode="bilinear", align_corners=True)
    small = F.interpolate(x, size=(Fh - step, Fw - step), mode="bilinear", align_corners=True)
    return torch.cat([big[:, :, h:h + Fh, h:h + Fw], x, F.pad(small, (h, h, h, h))], dim=0)


def correlate(maps: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """maps: S x C x F x F, template: C x ht x wt -> S x 1 x F x F valid correlation zero-padded back
    to F x F, entry (i, j) = template centred on cell (i, j) (spec 5.3)."""
    ht, wt = template.shape[-2:]
    r = F.conv2d(maps, template[None])
    return F.pad(r, (wt // 2, wt // 2, ht // 2, ht // 2))


def hann2d(n: int, device, dtype=torch.float32) -> torch.Tensor:
    """Symmetric Hann window hann(n) hann(n)^T, zeros at both ends (MATLAB hann)."""
    if n == 1:
        w = torch.ones(1, device=device, dtype=dtype)
    else:
        w = 0.5 * (1 - torch.cos(2 * torch.pi * torch.arange(n, device=device, dtype=dtype) / (n - 1)))
    return w[:, None] * w[None, :]


class WindowCache:
    """Hann windows by side, reused across frames (the window side changes only with scale)."""

    def __init__(self) -> None:
        self._cache: Dict[Tuple[int, str], torch.Tensor] = {}

    def get(self, n: int, device) -> torch.Tensor:
        key = (n, str(device))
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = hann2d(n, device)
        return self._cache[key]


def locate(resp: torch.Tensor, n: int, window: torch.Tensor, penalties: torch.Tensor,
           window_weight: float = 1.0) -> torch.Tensor:
    """resp: S x 1 x F x F raw correlation.  Returns a float tensor [scale index, row, col, raw peak]
    with 0-based row/col of the maximum in the n x n upsampled, windowed map of the chosen scale;
    ties resolve to the first in column-major order, as MATLAB's find does (spec 5.4-5.5)."""
    raw_peak = resp.amax()
    norm = resp / raw_peak.clamp_min(torch.finfo(resp.dtype).tiny)
    up = F.interpolate(norm, size=(n, n), mode="bicubic", align_corners=False, antialias=True)[:, 0]
    scored = up + window_weight * window
    peaks = scored.flatten(1).amax(dim=1)
    best = torch.argmax(peaks * penalties)
    chosen = scored[best].transpose(0, 1).reshape(-1)  # column-major order
    flat = torch.argmax(chosen)
    col, row = flat // n, flat % n
    return torch.stack([best.to(resp.dtype), row.to(resp.dtype), col.to(resp.dtype), raw_peak])
