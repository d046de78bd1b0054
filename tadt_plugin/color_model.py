"""A colour model of the target, merged into the position's score (an option, ``color_weight``; README
"Robustness").

TADT matches deep features only, and the target-aware channels chosen on the first frame can respond to
a different object of a similar shape (on `book` the tracker settles on a white bin while the purple book
moves away).  Staple (Bertinetto et al., "Staple: Complementary Learners for Real-Time Tracking", CVPR
2016) merges a template score with a colour-histogram score, which does not depend on the shape at all;
this is that second learner:

* histograms of the colours (``bins`` levels per channel, joint) inside the target's box and in the rest
  of the search window, from the first window, blended towards the current frame's at rate ``lr`` on
  confident frames;
* per pixel of the window, P(target | colour) = p_target / (p_target + p_background) (0.5 for a colour
  seen in neither);
* per place, the mean of that over a box of the target's size centred there (Staple's integral image);
  the tracker chooses the position on (1 - ``color_weight``) x the chosen scale's normalised correlation
  + ``color_weight`` x this map, plus the motion window as without it (matching.locate).

Everything is torch on the window the backbone sees, so it runs wherever the tracker runs.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F


def colour_bins(x: torch.Tensor, bins: int) -> torch.Tensor:
    """1 x 3 x S x S pixels (0..255) -> S x S joint bin index in [0, bins^3)."""
    q = (x[0].clamp(0, 255) * (bins / 256.0)).long().clamp_(max=bins - 1)
    return (q[0] * bins + q[1]) * bins + q[2]


def box_mask(side: int, wh: Tuple[float, float], device) -> torch.Tensor:
    """side x side bool mask of a w x h box centred in the window."""
    c = (side - 1) / 2.0
    w, h = wh
    ys = torch.arange(side, device=device, dtype=torch.float32)
    inside_y = (ys >= round(c - h / 2)) & (ys <= round(c + h / 2))
    inside_x = (ys >= round(c - w / 2)) & (ys <= round(c + w / 2))
    return inside_y[:, None] & inside_x[None, :]


class ColorModel:
    """Target and background colour histograms, and the colour score map of a window."""

    def __init__(self, x: torch.Tensor, target_wh: Tuple[float, float], bins: int = 16, lr: float = 0.04):
        """x: 1 x 3 x S x S window centred on the target, target_wh: its box in the window's pixels."""
        if not 2 <= bins <= 64:
            raise ValueError(f"color bins must be in [2, 64], got {bins}")
        if not 0.0 <= lr <= 1.0:
            raise ValueError(f"color learning rate must be in [0, 1], got {lr}")
        self.bins, self.lr = bins, lr
        self.target, self.background = self._histograms(x, target_wh)

    def _histograms(self, x: torch.Tensor, target_wh) -> Tuple[torch.Tensor, torch.Tensor]:
        idx = colour_bins(x, self.bins)
        inside = box_mask(idx.shape[-1], target_wh, idx.device)
        n = self.bins ** 3
        fg = torch.bincount(idx[inside], minlength=n).float()
        bg = torch.bincount(idx[~inside], minlength=n).float()
        return fg / fg.sum().clamp_min(1.0), bg / bg.sum().clamp_min(1.0)

    def update(self, x: torch.Tensor, target_wh: Tuple[float, float]) -> None:
        """Blend in the histograms of a window centred on the target (a confident frame's)."""
        fg, bg = self._histograms(x, target_wh)
        self.target.mul_(1.0 - self.lr).add_(fg, alpha=self.lr)
        self.background.mul_(1.0 - self.lr).add_(bg, alpha=self.lr)

    def score_map(self, x: torch.Tensor, target_wh: Tuple[float, float], n: int) -> torch.Tensor:
        """n x n map in [0, 1]: at each place of the window (resized from S x S to n x n, the grid of
        matching.locate's upsampled response), the mean P(target | colour) over a target-sized box."""
        idx = colour_bins(x, self.bins)
        pf, pb = self.target[idx], self.background[idx]
        total = pf + pb
        p = torch.where(total > 0, pf / total.clamp_min(1e-12), torch.full_like(pf, 0.5))
        mean = box_mean(p, max(int(round(target_wh[1])) | 1, 1), max(int(round(target_wh[0])) | 1, 1))
        return F.interpolate(mean[None, None], size=(n, n), mode="bilinear", align_corners=False)[0, 0]


def box_mean(p: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """H x W -> H x W mean over the odd kh x kw box centred on each pixel, borders replicated: four reads
    of an integral image (as Staple), whatever the box's size."""
    padded = F.pad(p[None, None], (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")[0, 0].double()
    ii = F.pad(padded.cumsum(0).cumsum(1), (1, 0, 1, 0))
    h, w = p.shape
    total = ii[kh:kh + h, kw:kw + w] - ii[:h, kw:kw + w] - ii[kh:kh + h, :w] + ii[:h, :w]
    return (total / (kh * kw)).to(p.dtype)
