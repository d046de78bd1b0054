"""Scale penalties calibrated on the first frame (an option, ``scale_calibrate``; see README "Robustness").

The pyramid's levels other than the middle one are bilinearly resized features (matching.pyramid), blurrier
than the middle level, so their peaks are lower even where they are the right scale: cut the first window
again so that the target looks one level's factor larger or smaller, and the middle level still scores
highest on every one of the 15 dev sequences (by 0.4-3% of the windowed peak).  The authors' fixed
penalties (0.99, 1, 1.0055) do not make up for that, so the size follows a growing or shrinking target
only after it has changed by several steps.
How much the resizing costs depends on the target's features, so it is measured per target, on the one
frame whose scale is known:

    peaks[z][l]: the penalty-free peak of level l when the first window is cut with the target zoomed by
                 level z's factor (peaks[mid] is the window as tracked);
    lo_l = peaks[l][mid] / peaks[l][l]      the least penalty with which level l wins at its own zoom,
    hi_l = peaks[mid][mid] / peaks[mid][l]  the most with which it still loses at zoom 1,

and level l's penalty is lo_l^(1 - position) * hi_l^position (the middle level keeps 1).
"""
from __future__ import annotations

from typing import Sequence, Tuple


def calibrated_penalties(peaks: Sequence[Sequence[float]], position: float = 0.5) -> Tuple[float, ...]:
    """peaks: S x S penalty-free peaks, row z = the first window zoomed by level z's factor, column l =
    pyramid level l (the order of matching.scale_factors).  Returns S penalties, the middle one 1."""
    s = len(peaks)
    if s % 2 != 1 or any(len(row) != s for row in peaks):
        raise ValueError(f"need an odd square matrix of peaks, got {s} rows")
    if not 0.0 <= position <= 1.0:
        raise ValueError(f"position must be in [0, 1], got {position}")
    if any(not v > 0 for row in peaks for v in row):
        raise ValueError("peaks must be positive")
    mid = s // 2
    out = []
    for lvl in range(s):
        if lvl == mid:
            out.append(1.0)
            continue
        lo = peaks[lvl][mid] / peaks[lvl][lvl]
        hi = peaks[mid][mid] / peaks[mid][lvl]
        out.append(float(lo ** (1.0 - position) * hi ** position))
    return tuple(out)
