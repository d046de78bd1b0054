"""Conservative template update: on confident frames only, anchored to the first-frame template.

The template TADT matches with is the first frame's selected features around the target (spec 3); it
never changes, so a target that turns, deforms or changes lighting slowly drifts away from it.  The
robust parameter set keeps a running template, blended towards the features at each confident frame's
peak with a small rate (the linear template interpolation of DSST/Staple/UpdateNet's baseline), and
matches with ``anchor * first + (1 - anchor) * running``: however long the sequence, the first frame
keeps at least ``anchor`` of the weight, so a slow contamination by background cannot replace it.
"""
from __future__ import annotations

from typing import Optional

import torch


def crop_cells(feats: torch.Tensor, row: int, col: int, ht: int, wt: int) -> Optional[torch.Tensor]:
    """feats: 1 x C x F x F -> C x ht x wt centred on cell (row, col), or None when that block does not
    lie wholly inside the map (a target at the window's edge is not a clean sample)."""
    fh, fw = feats.shape[-2:]
    r0, c0 = row - ht // 2, col - wt // 2
    if r0 < 0 or c0 < 0 or r0 + ht > fh or c0 + wt > fw:
        return None
    return feats[0, :, r0:r0 + ht, c0:c0 + wt]


def peak_cell(pos_px: float, win: int, feat: int) -> int:
    """Cell index (0-based) of a 0-based position in the win-px upsampled map (F cells span win px)."""
    return int(round((pos_px + 0.5) * feat / win - 0.5))


class TemplateModel:
    def __init__(self, first: torch.Tensor, rate: float, anchor: float) -> None:
        if not (0.0 <= rate <= 1.0) or not (0.0 <= anchor <= 1.0):
            raise ValueError(f"template_lr and template_anchor must be in [0, 1], got {rate}, {anchor}")
        self.first = first
        self.running = first.clone()
        self.rate, self.anchor = rate, anchor
        self.updates = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.anchor < 1

    def current(self) -> torch.Tensor:
        if self.updates == 0:
            return self.first
        return self.anchor * self.first + (1.0 - self.anchor) * self.running

    def update(self, sample: torch.Tensor) -> torch.Tensor:
        """Blend a C x ht x wt sample into the running template; returns the template to match with."""
        self.running.mul_(1.0 - self.rate).add_(sample.to(self.running.dtype), alpha=self.rate)
        self.updates += 1
        return self.current()
