"""Per-stage wall-clock timing for the benchmark.  Disabled (a no-op) unless switched on; when on, it
synchronises the device at stage boundaries so GPU stages are attributed correctly."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import torch


class StageTimer:
    def __init__(self, device: torch.device, enabled: bool = False):
        self.device, self.enabled = device, enabled
        self.totals = defaultdict(float)
        self.counts = defaultdict(int)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def __call__(self, stage: str):
        if not self.enabled:
            yield
            return
        self._sync()
        t = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.totals[stage] += time.perf_counter() - t
            self.counts[stage] += 1

    def reset(self) -> None:
        self.totals.clear()
        self.counts.clear()

    def mean(self, stage: str) -> float:
        return self.totals[stage] / self.counts[stage] if self.counts[stage] else 0.0
