"""How sure the tracker is of this frame's peak, relative to the peaks it saw on good frames.

TADT as published has no confidence signal.  The score here is the raw correlation at the chosen
position divided by a running mean of that score over the confident frames so far (the "peak value
relative to its history" test of MOSSE/LMCF-style trackers, which is scale-free: it does not depend on
the features' magnitude, the template size or the template update).  A frame whose relative score falls
below ``low`` is a low-confidence frame: the robust parameter set re-detects, damps the scale change and
leaves the template alone on such frames (tracker.py).  The running mean starts at the first tracked
frame's score (the first frame's own self-correlation is not comparable: the template matches itself
exactly) and only learns from frames at or above ``low``, so a drift onto background cannot teach it to
expect weak peaks.
"""
from __future__ import annotations

import math
from typing import Optional


class RelativeConfidence:
    def __init__(self, low: float, rate: float) -> None:
        if not (0.0 <= low < 1.0):
            raise ValueError(f"conf_low must be in [0, 1), got {low}")
        if not (0.0 < rate <= 1.0):
            raise ValueError(f"conf_rate must be in (0, 1], got {rate}")
        self.low, self.rate = low, rate
        self.reference: Optional[float] = None

    def score(self, raw: float) -> float:
        """raw / running reference (1.0 on the first tracked frame; 0.0 for a non-finite or negative raw)."""
        if not math.isfinite(raw) or raw <= 0:
            return 0.0
        if self.reference is None or self.reference <= 0:
            return 1.0
        return raw / self.reference

    def is_low(self, rel: float) -> bool:
        return self.low > 0 and rel < self.low

    def learn(self, raw: float, rel: float) -> None:
        """Fold this frame's raw score into the reference when the frame was confident."""
        if not math.isfinite(raw) or raw <= 0 or self.is_low(rel):
            return
        if self.reference is None:
            self.reference = raw
        else:
            self.reference += self.rate * (raw - self.reference)
