"""Re-detection: on a low-confidence frame, search a wider window around the last position.

TADT searches a window of 3x the target's size (spec 2.3) with a Hann motion prior; a target that moved
further, or that the tracker lost to a neighbour, is outside what it ever looks at again.  On frames
whose confidence is low (confidence.py) the robust parameter set runs one extra backbone pass over a
window ``factor`` times wider at the same pixel scale (the features' cell size, and so the template,
stay valid), correlates it with the template at the current scale only (the per-frame path's own
correlation, passed in by the tracker, so that the candidate's score and the frame's are computed
alike), and weighs it with a weaker Hann window.  The caller accepts the candidate only when it clearly beats both the frame's own score
and the score at the current position in the same wider pass (so that the two crops' different
context cannot tip the balance), and is itself a confident score (the
"global search when the score drops" of long-term Siamese trackers such as DaSiamRPN and SiamRPN++ LT,
kept local and cheap: the extra work is ~factor^2 backbone passes on low-confidence frames only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .backbone import STRIDE
from .matching import locate


@dataclass
class Candidate:
    cx: float      # centre, rescaled px (same convention as TrackState.cx)
    cy: float
    raw: float     # raw correlation at the candidate
    raw_here: float  # best raw correlation within one cell of the current position, in the same pass


def wider_side(side: int, factor: float) -> int:
    """Network input side of the wider window: ``factor * side`` rounded to a multiple of the stride."""
    return max(STRIDE * int(round(side * factor / STRIDE)), side)


def search_wider(frame: torch.Tensor, cx: float, cy: float, win: int, side: int, factor: float,
                 crop: Callable[[torch.Tensor, float, float, int, int], torch.Tensor],
                 features: Callable[[torch.Tensor], torch.Tensor], template: torch.Tensor,
                 window: Callable[[int], torch.Tensor], window_weight: float,
                 correlate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Candidate:
    """One pass over a window ``factor`` times wider than ``win`` (rescaled px) centred on (cx, cy).
    correlate(features, template) -> 1 x 1 x F2 x F2 float32 response (the tracker's correlation at one
    scale: for the default's bfloat16 features a bfloat16 GEMM, ~1 ms here, where a float32 conv2d of the
    same response took ~50 ms and was half of a re-detection's cost)."""
    side2 = wider_side(side, factor)
    win2 = max(int(round(win * side2 / side)), 8)
    feats = features(crop(frame, cx, cy, win2, side2))
    resp = correlate(feats, template).float()                       # 1 x 1 x F2 x F2, current scale
    one = torch.ones(1, device=resp.device, dtype=torch.float32)
    c = resp.shape[-1] // 2
    here = resp[0, 0, c - 1:c + 2, c - 1:c + 2].amax()
    _, row, col, _, raw_at = locate(resp, win2, window(win2), one, window_weight).cpu().tolist()[:5]
    return Candidate(cx=cx + (col + 1 - win2 / 2.0), cy=cy + (row + 1 - win2 / 2.0), raw=raw_at,
                     raw_here=float(here))
