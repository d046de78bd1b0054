"""Run the tracker over a sequence: the loop shared by `tadt track`, `tadt run` and the benchmark."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np


@dataclass
class RunResult:
    boxes: np.ndarray                 # N x 4, frame 1 = the initial box
    confidences: List[float]
    init_info: dict
    init_seconds: float
    track_seconds: float              # time inside track() for frames 2..N (excludes reading frames)
    frame_times: List[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        n = len(self.boxes) - 1
        return n / self.track_seconds if self.track_seconds > 0 and n > 0 else float("nan")


def track_frames(tracker, frames: Iterable[np.ndarray], init_box: Sequence[float],
                 on_frame: Optional[Callable[[int, np.ndarray, List[float]], None]] = None,
                 progress=None) -> RunResult:
    """Initialise on the first frame, track the rest.  on_frame(i, image, box) is called for every frame."""
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("the sequence has no frames") from None
    t0 = time.perf_counter()
    info = tracker.initialize(first, init_box)
    t_init = time.perf_counter() - t0
    boxes = [list(map(float, init_box))]
    confs = [1.0]
    if on_frame:
        on_frame(0, first, boxes[0])
    if progress is not None:
        progress.update(1)
    times = []
    for i, img in enumerate(it, start=1):
        t = time.perf_counter()
        box, conf = tracker.track(img)
        times.append(time.perf_counter() - t)
        boxes.append(box)
        confs.append(conf)
        if on_frame:
            on_frame(i, img, box)
        if progress is not None:
            progress.update(1)
    return RunResult(np.asarray(boxes, dtype=np.float64), confs, info, t_init, float(sum(times)), times)
