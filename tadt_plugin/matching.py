"""Siamese matching on the selected features (TADT_SPEC.md section 5).

Per frame: a 3-scale pyramid built in feature space (5.2), one batched cross-correlation with the
template (5.3), normalisation by the joint maximum, bicubic upsampling to the window size in px plus
an additive Hann window (5.4), penalised scale choice and the arg-max (5.5).  Everything stays on
the device; :func:`locate` returns one small tensor that is the only device-to-host transfer.

:func:`pyramid_correlate` is the per-frame entry point.  Its default ("gemm") contracts the channels
first and builds the pyramid afterwards, on the per-offset product maps: the pyramid (bilinear
resize, crop, zero-pad) acts on each channel map alone and linearly, so it commutes with the weighted
sum over channels, and the result equals pyramid-then-correlate up to float rounding while the
channel contraction runs once instead of once per scale.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F


def scale_factors(feat: int, step: int = 2, mode: str = "faithful", count: int = 3) -> Tuple[float, ...]:
    """[45/47, 1, 45/43] as the authors hard-code them, or F/(F+2), 1, F/(F-2) (spec A4).  count=5: the
    authors' 5-scale variant (defined in their code, not used: spec 5.5), levels F +- step and F +- 2 step,
    i.e. [45/49, 45/47, 1, 45/43, 45/41]."""
    base = 45 if mode == "faithful" else feat
    half = count // 2
    return tuple(base / (base + d * step) for d in range(half, -half - 1, -1))


def pyramid(x: torch.Tensor, step: int = 2, count: int = 3) -> torch.Tensor:
    """x: 1 x C x F x F -> count x C x F x F, level d = count//2 .. -count//2: resized to F + d*step,
    then centre-cropped (d > 0) or zero-padded (d < 0) back to F, with corner-aligned bilinear resizing
    (vl_nnbilinearsampler, spec 5.2).  count=3: [grown, x, shrunk] as the authors."""
    return torch.cat(list(pyramid_levels(x, step, count)), dim=0)


def pyramid_levels(x: torch.Tensor, step: int = 2, count: int = 3):
    """The levels of :func:`pyramid`, one 1 x C x F x F map at a time (level 0 is x itself)."""
    Fh, Fw = x.shape[-2:]
    half = count // 2
    for d in range(half, -half - 1, -1):
        if d == 0:
            yield x
            continue
        h = abs(d) * step // 2
        r = F.interpolate(x, size=(Fh + d * step, Fw + d * step), mode="bilinear", align_corners=True)
        yield r[:, :, h:h + Fh, h:h + Fw] if d > 0 else F.pad(r, (h, h, h, h))


def pyramid_correlate(x: torch.Tensor, template: torch.Tensor, step: int = 2,
                      method: str = "gemm", count: int = 3,
                      gemm_dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """x: 1 x C x F x F selected features, template: C x ht x wt -> S x 1 x F x F, the correlation of
    each pyramid level with the template: ``correlate(pyramid(x, step, count), template)``.

    "gemm" computes it as products = (cells x channels) @ (channels x template offsets) on x alone,
    the pyramid of those K = ht*wt product maps, then the sum of the shifted products; on
    this project's 2-core CPU that halves the time of pyramid + correlation for typical templates
    (13 x 15 cells: 16 -> 9 ms).  "conv" keeps the original order (pyramid, then one conv2d).
    gemm_dtype: the precision of the products (e.g. bfloat16 on a CPU with native bfloat16, where this
    GEMM is ~4x faster); they are returned to float32 before the pyramid and the shifted sum."""
    if method == "conv":
        return correlate(pyramid(x, step, count), template)
    _, c, fh, fw = x.shape
    ht, wt = template.shape[-2:]
    per_offset = template.permute(1, 2, 0).reshape(ht * wt, c)                      # K x C
    cells = x.permute(0, 2, 3, 1).reshape(fh * fw, c)  # a view when x is channels-last
    # cells x K: the product maps come out channels-last (K innermost), the layout the bilinear
    # resizing is fastest in and the shifted sum below reads without a gather
    if gemm_dtype is not None:   # x may already be in it (the tracker keeps bfloat16 features so)
        products = (cells.to(gemm_dtype) @ per_offset.to(gemm_dtype).t()).float()
    else:
        products = cells @ per_offset.t()
    products = products.view(1, fh, fw, ht * wt).permute(0, 3, 1, 2)                 # 1 x K x F x F
    # level by level: the shifted sum reads each level where it lies (no S x K x F x F copy of them all)
    resp = [_shift_sum(level if level.stride(1) == 1 else level.contiguous(memory_format=torch.channels_last),
                       ht, wt) for level in pyramid_levels(products, step, count)]
    return F.pad(torch.cat(resp), (wt // 2, wt // 2, ht // 2, ht // 2))


def correlate(maps: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """maps: S x C x F x F, template: C x ht x wt -> S x 1 x F x F valid correlation zero-padded back
    to F x F, entry (i, j) = template centred on cell (i, j) (spec 5.3): one conv2d with a single
    output channel.  This is the spec's order and the reference the per-frame path is tested against
    (tests/test_tracker.py); the tracker uses it only with ``correlation="conv"``."""
    ht, wt = template.shape[-2:]
    return F.pad(F.conv2d(maps, template[None]), (wt // 2, wt // 2, ht // 2, ht // 2))


def _shift_sum(levels: torch.Tensor, ht: int, wt: int) -> torch.Tensor:
    """levels: S x K x F x F channels-last, map k = template offset (dy, dx) = (k // wt, k % wt) times
    each cell -> S x 1 x Ho x Wo, out(i, j) = sum over k of levels[k] at cell (i+dy, j+dx): one strided
    view whose (dy, dx) axes step one cell and one map at once, summed (no index tensor, no copy).
    With pyramid_correlate's channels-last products this is ~25% faster than gathering from
    channels-first maps (13 x 15 template, 380 channels, F = 45: 4.45 -> 3.47 ms in float32)."""
    s, k, fh, fw = levels.shape
    ho, wo = fh - ht + 1, fw - wt + 1
    sk, sc, sh, sw = levels.stride()
    assert sc == 1, "levels must be channels-last (maps innermost; a cropped view of such maps will do)"
    diag = levels.as_strided((s, ho, wo, ht, wt), (sk, sh, sw, sh + wt * sc, sw + sc))
    return diag.sum(dim=(3, 4)).reshape(s, 1, ho, wo)


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
           window_weight: float = 1.0, prior: Optional[torch.Tensor] = None,
           prior_weight: float = 0.0) -> torch.Tensor:
    """resp: S x 1 x F x F raw correlation.  Returns a float tensor [scale index, row, col, raw peak,
    raw at the chosen position, then the S penalised peaks of the scales] with 0-based row/col of the
    maximum in the n x n upsampled, windowed map of the chosen scale; ties resolve to the first in
    column-major order, as MATLAB's find does (spec 5.4-5.5).  The fifth value (the upsampled raw
    correlation where the tracker goes, before the window) is what confidence.py scores; the peaks feed
    interpolate_scale.  prior: an n x n map in [0, 1] (color_model.py) merged with weight prior_weight into
    the chosen scale's normalised correlation for the position only (the scale is chosen as without it)."""
    raw_peak = resp.amax()
    norm = resp / raw_peak.clamp_min(torch.finfo(resp.dtype).tiny)
    up = F.interpolate(norm, size=(n, n), mode="bicubic", align_corners=False, antialias=True)[:, 0]
    scored = up + window_weight * window
    peaks = scored.flatten(1).amax(dim=1)
    best = torch.argmax(peaks * penalties)
    # Staple's merge: (1 - w) x correlation + w x prior, the motion window as before
    chosen = scored[best] if prior is None else scored[best] + prior_weight * (prior - up[best])
    chosen = chosen.transpose(0, 1).reshape(-1)  # column-major order
    flat = torch.argmax(chosen)
    col, row = flat // n, flat % n
    raw_at = up[best, row, col] * raw_peak
    return torch.cat([torch.stack([best.to(resp.dtype), row.to(resp.dtype), col.to(resp.dtype), raw_peak, raw_at]),
                      (peaks * penalties).to(resp.dtype)])


def interpolate_scale(factors, peaks, best: int) -> float:
    """The size factor at the vertex of the parabola through the penalised peaks of the best scale and
    its two neighbours, in log-scale (sub-step scale estimation, as DSST/ECO interpolate their scale
    responses); the discrete factors[best] when best is an end or the three are not concave."""
    if not 0 < best < len(factors) - 1:
        return float(factors[best])
    x = [math.log(f) for f in factors[best - 1: best + 2]]
    y0, y1, y2 = (float(v) for v in peaks[best - 1: best + 2])
    d0, d2 = x[0] - x[1], x[2] - x[1]
    # y = y1 + b*t + a*t^2 through (d0, y0), (0, y1), (d2, y2)
    a = ((y0 - y1) / d0 - (y2 - y1) / d2) / (d0 - d2)
    b = (y0 - y1) / d0 - a * d0
    if not a < 0:
        return float(factors[best])
    t = min(max(-b / (2 * a), min(d0, d2)), max(d0, d2))
    return math.exp(x[1] + t)
