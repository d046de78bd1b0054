"""Distractor-aware matching: subtract what look-alikes around the target look like from the template.

A Siamese tracker scores every place in the window by its similarity to the template, so an object of
the same kind next to the target (a runner among runners, a player among players) scores almost as high
and one bad frame hands the track over to it.  DaSiamRPN (Zhu et al., "Distractor-aware Siamese
Networks for Visual Object Tracking", ECCV 2018, eq. 3) scores with the template's similarity minus a
weighted mean of the similarities to the distractors seen so far; because the correlation is linear in
the template, that is one correlation with ``template - weight * mean(distractor features)`` (their own
remark), so it costs nothing per frame.  Here a distractor is the strongest place in the scale-1
response whose template-sized box does not overlap the target's and whose raw score is at least
``ratio`` of the target's, found on confident frames only (the gate of the template update), and its
features are blended into a running mean at ``rate`` (the first one sets it).

An option (``distractor_weight`` > 0), off in every parameter set: measured on the dev sequences it
did not gain consistently (README "Robustness"); tests/test_distractors.py shows what it does.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from .template_update import crop_cells


def strongest_elsewhere(resp: torch.Tensor, row: int, col: int, ht: int, wt: int) -> Optional[Tuple[int, int, float]]:
    """resp: Fh x Fw raw scores, entry (i, j) = the template centred on cell (i, j).  Returns (row, col,
    score) of the best cell whose ht x wt box does not overlap the box on (row, col), or None when every
    cell does."""
    found = _strongest(resp, row, col, ht, wt)
    if found is None:
        return None
    flat, score = found.tolist()
    return int(flat) // resp.shape[1], int(flat) % resp.shape[1], score


def _strongest(resp: torch.Tensor, row: int, col: int, ht: int, wt: int, *extra: torch.Tensor) -> Optional[torch.Tensor]:
    """[flat index, score, *extra] of strongest_elsewhere's cell as one tensor on resp's device (so that
    the caller reads it in one transfer), or None when every cell overlaps the target's box."""
    fh, fw = resp.shape
    if max(row, fh - 1 - row) < ht and max(col, fw - 1 - col) < wt:
        return None
    rows = torch.arange(fh, device=resp.device)[:, None]
    cols = torch.arange(fw, device=resp.device)[None, :]
    overlaps = ((rows - row).abs() < ht) & ((cols - col).abs() < wt)
    masked = resp.float().masked_fill(overlaps, float("-inf")).view(-1)
    flat = torch.argmax(masked)
    return torch.stack([flat.to(torch.float32), masked[flat], *extra])


class DistractorModel:
    def __init__(self, weight: float, ratio: float, rate: float) -> None:
        if weight < 0 or not (0.0 < ratio <= 1.0) or not (0.0 < rate <= 1.0):
            raise ValueError(f"distractor_weight must be >= 0, distractor_ratio and distractor_lr in (0, 1], "
                             f"got {weight}, {ratio}, {rate}")
        self.weight, self.ratio, self.rate = weight, ratio, rate
        self.mean: Optional[torch.Tensor] = None
        self.found = 0

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def learn(self, feats: torch.Tensor, resp: torch.Tensor, row: int, col: int, ht: int, wt: int) -> bool:
        """feats: 1 x C x F x F scale-1 features, resp: F x F their raw correlation with the matching
        template, (row, col): the target's cell.  Folds the strongest look-alike into the mean; returns
        whether there was one."""
        if not (0 <= row < resp.shape[0] and 0 <= col < resp.shape[1]):
            return False
        found = _strongest(resp, row, col, ht, wt, resp[row, col].float())
        if found is None:
            return False
        flat, best, target = found.tolist()   # one device -> host transfer
        if target <= 0 or best < self.ratio * target:
            return False
        flat = int(flat)
        sample = crop_cells(feats, flat // resp.shape[1], flat % resp.shape[1], ht, wt)
        if sample is None:
            return False
        sample = sample.float()
        if self.mean is None:
            self.mean = sample.clone()
        else:
            self.mean.mul_(1.0 - self.rate).add_(sample, alpha=self.rate)
        self.found += 1
        return True

    def apply(self, template: torch.Tensor) -> torch.Tensor:
        """The template to match with: ``template - weight * mean`` (the template itself before any)."""
        if self.mean is None or self.weight == 0:
            return template
        return template - self.weight * self.mean.to(template.dtype)
