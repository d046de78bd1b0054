"""Felzenszwalb HOG ("fHOG") features of a batch of small patches, in torch (one path for CPU and CUDA).

The 31 channels per 4 x 4-pixel cell of Felzenszwalb et al. (PAMI 2010), the features DSST's scale
filter uses (scale_filter.py): 18 contrast-sensitive and 9 contrast-insensitive orientation bins, each
normalised by the energy of the four 2 x 2-cell blocks around the cell and clipped at 0.2, plus 4
texture values (the clipped insensitive bins summed per normalisation).  Simplifications against the
reference implementation (piotr_toolbox's fhog, which DSST's code calls): hard spatial binning into
cells (no bilinear spread to neighbouring cells); orientation votes are split linearly between the two
nearest bins.  Not part of TADT itself (TADT_SPEC.md has no scale filter).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SIGNED_BINS = 18
CHANNELS = 31   # 18 signed + 9 unsigned + 4 texture
_CLIP = 0.2
_EPS = 1e-4


def fhog(patches: torch.Tensor, cell: int = 4) -> torch.Tensor:
    """patches: N x C x H x W (any value range; C = 1 or 3), H and W multiples of ``cell`` ->
    N x 31 x H/cell x W/cell.  Per pixel the gradient of the colour channel with the largest magnitude
    votes (as in fHOG)."""
    n, c, h, w = patches.shape
    if h % cell or w % cell:
        raise ValueError(f"fhog: patch size {w}x{h} is not a multiple of the {cell}-px cell")
    x = F.pad(patches.float(), (1, 1, 1, 1), mode="replicate")
    dx = x[:, :, 1:-1, 2:] - x[:, :, 1:-1, :-2]
    dy = x[:, :, 2:, 1:-1] - x[:, :, :-2, 1:-1]
    mag2 = dx * dx + dy * dy
    if c > 1:   # the strongest channel's gradient at each pixel (pairwise: argmax over dim 1 is slow on CPU)
        gx, gy, g2 = dx[:, :1], dy[:, :1], mag2[:, :1]
        for i in range(1, c):
            take = mag2[:, i:i + 1] > g2
            gx, gy, g2 = (torch.where(take, dx[:, i:i + 1], gx), torch.where(take, dy[:, i:i + 1], gy),
                          torch.where(take, mag2[:, i:i + 1], g2))
        dx, dy, mag2 = gx, gy, g2
    mag = mag2.sqrt()
    # signed orientation in [0, 18) bins; each vote split between the two nearest bins
    t = torch.atan2(dy, dx).remainder(2 * math.pi) * (SIGNED_BINS / (2 * math.pi))
    lo = t.floor()
    frac = t - lo
    lo = lo.long().remainder(SIGNED_BINS)
    hist = torch.zeros(n, SIGNED_BINS, h, w, device=patches.device, dtype=mag.dtype)
    hist.scatter_add_(1, lo, mag * (1 - frac))
    hist.scatter_add_(1, (lo + 1).remainder(SIGNED_BINS), mag * frac)
    signed = F.avg_pool2d(hist, cell) * (cell * cell)                 # N x 18 x Hc x Wc
    unsigned = signed[:, :9] + signed[:, 9:]                          # N x 9 x Hc x Wc
    energy = (unsigned * unsigned).sum(dim=1, keepdim=True)
    # the four 2 x 2 blocks around each cell (border cells reuse their own energy)
    blocks = F.avg_pool2d(F.pad(energy, (1, 1, 1, 1), mode="replicate"), 2, stride=1) * 4   # Hc+1 x Wc+1
    hc, wc = signed.shape[-2:]
    feats_s, feats_u, texture = 0, 0, []
    for oy in (0, 1):
        for ox in (0, 1):
            norm = (blocks[:, :, oy:oy + hc, ox:ox + wc] + _EPS).rsqrt()
            hu = (unsigned * norm).clamp_(max=_CLIP)
            feats_s = feats_s + (signed * norm).clamp_(max=_CLIP)
            feats_u = feats_u + hu
            texture.append(hu.sum(dim=1, keepdim=True))
    return torch.cat([0.5 * feats_s, 0.5 * feats_u, 0.2357 * torch.cat(texture, dim=1)], dim=1)
