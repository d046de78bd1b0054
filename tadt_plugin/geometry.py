"""Box conventions, whole-frame rescale, window size, crop and resize (TADT_SPEC.md 2, 3, 11).

Conventions (the one place they live):
* Boxes at the API edge are ``[x, y, w, h]`` floats in the caller's pixel coordinates (OTB and
  pytracking ground truth are used as given; VOT regions are converted by the VOT adapter).
* Internally the tracker follows the authors' MATLAB arithmetic: the centre is ``(x + w/2, y + h/2)``
  read as 1-based pixel coordinates, all in the *rescaled* image (spec 2.1, A6).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .errors import BadBoxError


def validate_box(box: Sequence[float], image_hw: Tuple[int, int], what: str = "box") -> np.ndarray:
    """Check an [x, y, w, h] box; raise BadBoxError naming the problem.  Returns it as float64."""
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise BadBoxError(f"{what} {box!r} is not four numbers x,y,w,h") from exc
    if b.size != 4:
        raise BadBoxError(f"{what} has {b.size} values; expected 4 (x,y,w,h)")
    if not np.all(np.isfinite(b)):
        raise BadBoxError(f"{what} {b.tolist()} contains NaN or infinity")
    x, y, w, h = b
    if w <= 0 or h <= 0:
        raise BadBoxError(f"{what} {b.tolist()} has non-positive width or height")
    if w < 2 or h < 2:
        raise BadBoxError(f"{what} {b.tolist()} is smaller than 2 px; TADT needs a visible target")
    H, W = image_hw
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise BadBoxError(f"{what} {b.tolist()} lies entirely outside the {W}x{H} image")
    return b


def rescale_factor(box_wh: Tuple[float, float], min_size: float = 44.0, max_size: float = 59.0) -> float:
    """s0 so that the target's sqrt-area falls in [min_size, max_size] (spec 2.1)."""
    t = math.sqrt(box_wh[0] * box_wh[1])
    if t > max_size:
        return max_size / t
    if t < min_size:
        return min_size / t
    return 1.0


def rescaled_size(h: int, w: int, s0: float) -> Tuple[int, int]:
    """MATLAB imresize output size: ceil(s0 * [H W])."""
    return max(1, math.ceil(s0 * h - 1e-9)), max(1, math.ceil(s0 * w - 1e-9))


def window_side(img_h: int, img_w: int, base: float = 177.0, floor: int = 44) -> int:
    """Search window side S of the form 8k+4 (spec 2.2).  Not in the original: the base never drops
    below `floor` (the minimum target size), so degenerate tiny images still give a usable window."""
    sz = int(round(base))
    if sz > img_w or sz > img_h:
        sz = max(min(img_w, img_h), min(floor, sz))
    return sz + 8 - ((sz - 4) % 8)


def template_size(h: float, w: float, feat: int, side: int) -> Tuple[int, int]:
    """Template (exemplar) size in cells, always odd and at most feat-2 (spec 3, A5)."""
    ht = 2 * math.floor(h * feat / side / 2) + 1
    wt = 2 * math.floor(w * feat / side / 2) + 1
    cap = feat - 2 if (feat - 2) % 2 == 1 else feat - 3
    return max(1, min(ht, cap)), max(1, min(wt, cap))


def matlab_round(x: float) -> int:
    """MATLAB round(): halves away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def rescale_frame(frame: torch.Tensor, out_hw: Tuple[int, int]) -> torch.Tensor:
    """Whole-frame resize like MATLAB imresize (bicubic a=-0.5, antialias when shrinking), rounded to
    uint8 values.  frame: 3 x H x W float (0..255)."""
    if tuple(frame.shape[-2:]) == tuple(out_hw):
        return frame
    out = F.interpolate(frame[None], size=out_hw, mode="bicubic", align_corners=False, antialias=True)[0]
    return out.round_().clamp_(0, 255)


def crop_indices(center: float, n: int, limit: int, device) -> torch.Tensor:
    """0-based indices of a length-n crop centred at a 1-based coordinate, clamped (spec 2.3):
    1-based rows floor(c) + (1..n) - ceil(n/2)."""
    start = math.floor(center) - math.ceil(n / 2)  # 0-based index of the first row
    return torch.arange(start, start + n, device=device).clamp_(0, limit - 1)


def crop_and_resize(frame: torch.Tensor, cx: float, cy: float, n: int, out: int) -> torch.Tensor:
    """Square n x n crop centred at (cx, cy) (1-based, border replicated), resized bilinearly without
    antialiasing to out x out (spec 2.3).  frame: 3 x H x W.  Returns 1 x 3 x out x out."""
    H, W = frame.shape[-2:]
    rows = crop_indices(cy, n, H, frame.device)
    cols = crop_indices(cx, n, W, frame.device)
    patch = frame.index_select(1, rows).index_select(2, cols)[None]
    if n == out:
        return patch
    return F.interpolate(patch, size=(out, out), mode="bilinear", align_corners=False, antialias=False)


def crop_from_original(frame: torch.Tensor, cx: float, cy: float, n: int, out: int, s0: float) -> torch.Tensor:
    """Lean path (spec 7): the same window taken straight from the un-rescaled frame, skipping the
    whole-frame rescale.  (cx, cy, n) are in rescaled coordinates.  Upscaling (s0 > 1): one bilinear
    sampling of the original at the rescaled pixel centres.  Shrinking (s0 < 1): the window's footprint
    is cropped from the original (border replicated) and resized with antialiasing.  Not bit-exact:
    on real frames the window differs from the faithful path by ~0.5-1.5 grey levels on average."""
    if s0 == 1.0:
        return crop_and_resize(frame, cx, cy, n, out)
    H, W = frame.shape[-2:]
    start_y = math.floor(cy) - math.ceil(n / 2) + 1  # 1-based rescaled index of the first window row
    start_x = math.floor(cx) - math.ceil(n / 2) + 1
    if s0 < 1.0:
        m = max(1, int(round(n / s0)))
        oy = int(round((start_y - 0.5) / s0 + 0.5)) - 1  # 0-based original index of the first row
        ox = int(round((start_x - 0.5) / s0 + 0.5)) - 1
        rows = torch.arange(oy, oy + m, device=frame.device).clamp_(0, H - 1)
        cols = torch.arange(ox, ox + m, device=frame.device).clamp_(0, W - 1)
        patch = frame.index_select(1, rows).index_select(2, cols)[None]
        return F.interpolate(patch, size=(out, out), mode="bilinear", align_corners=False, antialias=True)
    # Rescaled 1-based pixel r has its centre at original 1-based coordinate (r - 0.5)/s0 + 0.5.
    pos = (torch.arange(out, device=frame.device, dtype=frame.dtype) + 0.5) * (n / out) - 0.5
    hr, wr = rescaled_size(H, W, s0)
    ry = (start_y - 1 + pos).clamp(0, hr - 1)  # 0-based rescaled coordinates, border replicated
    rx = (start_x - 1 + pos).clamp(0, wr - 1)
    gy = ((ry + 0.5) / s0) / H * 2 - 1
    gx = ((rx + 0.5) / s0) / W * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    return F.grid_sample(frame[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
