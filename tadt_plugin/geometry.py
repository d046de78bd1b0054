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
    start = _crop_start(center, n)
    return torch.arange(start, start + n, device=device).clamp_(0, limit - 1)


def _crop_start(center: float, n: int) -> int:
    """0-based index of the first row of a length-n crop centred at a 1-based coordinate (spec 2.3)."""
    return math.floor(center) - math.ceil(n / 2)


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


class WindowSampler:
    """The search window of the rescaled frame, i.e. ``crop_and_resize(rescale_frame(frame, out_hw), ...)``,
    computed without rescaling the whole frame (one per sequence: the frame size and s0 are fixed).

    The whole-frame resize is linear and separable, so the n x n rescaled pixels a window needs are
    ``Ry @ block @ Rx^T``: the rows of the resize's weight matrices that the window's (clamped) rows and
    columns select, times the block of the original frame under them.  The weight matrices are read
    once from ``F.interpolate`` itself (the same bicubic antialiased resize applied to identity
    matrices), so the result is the whole-frame path's up to float rounding; after the uint8 rounding
    at most a tie flips one grey level on a few pixels (tests/test_geometry.py).  Per frame this reads
    only the window's footprint instead of rescaling every pixel (Crossing, 240 x 360 -> 363 x 544, a
    180 px window, one core: 4.7 -> 0.8 ms).  The products are dense over the window's footprint, ~30x
    more multiply-adds than the resize's few taps but in a GEMM ~30x faster per multiply-add, so when the
    footprint is most of a frame that shrinks (s0 < 1) the whole-frame resize is used instead: per crop,
    whichever costs fewer weighted multiply-adds (``GEMM_ADVANTAGE``).
    frame: 3 x H x W, uint8 or float, in the caller's resolution."""

    GEMM_ADVANTAGE = 25.0   # measured: ~28 GMAC/s in the products, ~1 GMAC/s in F.interpolate (AVX-512, one core)

    def __init__(self, in_hw: Tuple[int, int], out_hw: Tuple[int, int], device, whole_frame: bool = False) -> None:
        self.in_hw, self.out_hw = tuple(in_hw), tuple(out_hw)
        self.identity = self.in_hw == self.out_hw
        self.whole_frame = whole_frame and not self.identity   # always the whole-frame path (the reference)
        if not self.identity and not whole_frame:
            self.ry, self.lo_y, self.hi_y = _resize_weights(self.in_hw[0], self.out_hw[0], device)
            self.rx, self.lo_x, self.hi_x = _resize_weights(self.in_hw[1], self.out_hw[1], device)
            (H, W), (hr, wr) = self.in_hw, self.out_hw
            taps_y = max(h - l for l, h in zip(self.lo_y, self.hi_y))
            taps_x = max(h - l for l, h in zip(self.lo_x, self.hi_x))
            self.whole_macs = 3 * (hr * W * taps_y + hr * wr * taps_x)

    def crop(self, frame: torch.Tensor, cx: float, cy: float, n: int, out: int) -> torch.Tensor:
        """1 x 3 x out x out float window of side n (rescaled px) centred at (cx, cy) (1-based, rescaled
        coordinates, border replicated), as crop_and_resize on the rescaled frame."""
        if self.whole_frame:
            return self.crop_whole_frame(frame, cx, cy, n, out)
        hr, wr = self.out_hw
        rows = crop_indices(cy, n, hr, frame.device)
        cols = crop_indices(cx, n, wr, frame.device)
        if self.identity:
            patch = frame.index_select(1, rows).index_select(2, cols).float()[None]
        else:
            y0, y1 = _clamped_ends(cy, n, hr)
            x0, x1 = _clamped_ends(cx, n, wr)
            a, b = self.lo_y[y0], self.hi_y[y1]   # the original rows and columns under the window
            c, d = self.lo_x[x0], self.hi_x[x1]
            if 3 * n * (d - c) * (b - a + n) > self.GEMM_ADVANTAGE * self.whole_macs:
                return self.crop_whole_frame(frame, cx, cy, n, out)
            ry = self.ry[:, a:b].index_select(0, rows)                          # n x (b - a)
            rx = self.rx[:, c:d].index_select(0, cols)                          # n x (d - c)
            block = frame[:, a:b, c:d].float()
            patch = (ry @ block @ rx.t()).round_().clamp_(0, 255)[None]          # as rescale_frame
        if n == out:
            return patch
        return F.interpolate(patch, size=(out, out), mode="bilinear", align_corners=False, antialias=False)

    def crop_whole_frame(self, frame: torch.Tensor, cx: float, cy: float, n: int, out: int) -> torch.Tensor:
        """The same window the reference way: the whole frame rescaled (rescale_frame), then cropped."""
        return crop_and_resize(rescale_frame(frame.float(), self.out_hw), cx, cy, n, out)


def _clamped_ends(center: float, n: int, limit: int) -> Tuple[int, int]:
    """First and last index of crop_indices(center, n, limit), without building it."""
    start = _crop_start(center, n)
    return min(max(start, 0), limit - 1), min(max(start + n - 1, 0), limit - 1)


def _resize_weights(n_in: int, n_out: int, device) -> Tuple[torch.Tensor, list, list]:
    """rescale_frame's weights along one axis: R (n_out x n_in) with resized = R @ x, read from
    F.interpolate on an identity image resized along its rows only (the columns keep their size, where
    the kernel is the identity), and per output index the first and one-past-last input index with a
    non-zero weight.  (Not on an n x 1 image: torch 2.14's antialiased bicubic returns a constant there.)"""
    eye = torch.eye(n_in, device=device, dtype=torch.float32)[None, None]
    r = F.interpolate(eye, size=(n_out, n_in), mode="bicubic", align_corners=False, antialias=True)[0, 0]
    nz = (r != 0).cpu()
    lo = nz.int().argmax(dim=1)
    hi = n_in - nz.flip(1).int().argmax(dim=1)
    return r.contiguous(), lo.tolist(), hi.tolist()
