"""Target extent from the target-aware features (an option, ``extent_lr``; off in every set until measured).

TADT's selected channels are the ones that respond to the target (spec 4), so their sum weighted by the
template's mean activation per channel is a saliency map of the target, as a class activation map is
of an object (Zhou et al., CVPR 2016, localise objects by thresholding such a map).  Its spread around
the tracker's centre measures the target's size independently of the scale pyramid, whose feature
resizing drifts (README "Robustness": bag ends at 0.4 of the true size).

The measurement: the map less its median over the window (background), inside a region of
``extent_region`` (2) times the current box around the centre, cells under ``threshold`` x the region's
maximum dropped; the weighted second moments give a box side as sqrt(12 var) (the side of a uniform box
with that variance).  The first frame calibrates it: the size it measures there against the given box is
the measurement's own scale, divided out of every later one.

Measured on the 15 dev sequences and not in any parameter set: it corrects the size where the pyramid
loses it (bag +0.19, wakeboard10 +0.08 AUC) and costs as much where the pyramid was right (FaceOcc1,
Human3, traffic), README "Robustness".
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch


def _grid(shape, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Row indices as a column and column indices as a row, for maps of ``shape`` on ``device``."""
    return (torch.arange(shape[0], dtype=torch.float32, device=device).view(-1, 1),
            torch.arange(shape[1], dtype=torch.float32, device=device).view(1, -1))


def channel_weights(template: torch.Tensor, feats: Optional[torch.Tensor] = None,
                    centre: Tuple[float, float] = (0.0, 0.0), half: Tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """C x h x w template -> C weights: each selected channel's mean activation on the target, or with
    ``feats`` (C x F x F, the first window) that less its mean over the ring from the box (half-sides
    ``half`` in cells at ``centre``) to twice it, clipped at 0: only channels more active on the target
    than around it then count (a discriminative saliency)."""
    inner = template.float().mean(dim=(1, 2))
    if feats is None:
        return inner
    f = (feats[0] if feats.dim() == 4 else feats).float()
    rows, cols = _grid(f.shape[-2:], f.device)
    dr, dc = (rows - centre[0]).abs(), (cols - centre[1]).abs()
    ring = (dr <= 2 * half[0]) & (dc <= 2 * half[1]) & ~((dr <= half[0]) & (dc <= half[1]))
    if not bool(ring.any()):
        return inner
    return (inner - f[:, ring].mean(dim=1)).clamp_min(0)


def measure(feats: torch.Tensor, weights: torch.Tensor, centre: Tuple[float, float],
            half: Tuple[float, float], threshold: float = 0.3) -> Optional[float]:
    """feats: C x F x F (or 1 x C x F x F); centre (row, col) and half the region's sides in cells.
    Returns the target's sqrt-area in cells, or None when the region holds no saliency."""
    f = feats[0] if feats.dim() == 4 else feats
    sal = torch.einsum("c,chw->hw", weights, f.float())
    sal = (sal - sal.median()).clamp_min(0)
    rows, cols = _grid(sal.shape, sal.device)
    (cr, cc), (hr, hc) = centre, half
    inside = ((rows - cr).abs() <= hr) & ((cols - cc).abs() <= hc)
    sal = torch.where(inside, sal, torch.zeros(()))
    top = float(sal.max())
    if not top > 0:
        return None
    sal = torch.where(sal >= threshold * top, sal, torch.zeros(()))
    total = sal.sum()
    mr, mc = (sal * rows).sum() / total, (sal * cols).sum() / total
    vr, vc = (sal * (rows - mr) ** 2).sum() / total, (sal * (cols - mc) ** 2).sum() / total
    side = math.sqrt(12.0 * math.sqrt(float(vr) * float(vc)))
    return side if side > 0 else None

