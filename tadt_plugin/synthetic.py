"""Generated test sequences with real texture, motion and scale change (no download needed).

The texture comes from ``grace_hopper.jpg``, a photograph that matplotlib (a dependency) ships as
sample data.  The background is a blurred, mirrored copy of it; the target is a crop of the face,
moved along a smooth Lissajous path while its size changes by up to +-35%.  The ground truth is
known exactly.  Used by ``tadt track demo``, the tests and the benchmark fallback.
"""
from __future__ import annotations

import math
import os
from typing import Iterator, Tuple

import cv2
import numpy as np


def texture() -> np.ndarray:
    """RGB uint8 photo shipped with matplotlib."""
    import matplotlib
    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"matplotlib sample image not found at {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def paste(img: np.ndarray, patch: np.ndarray, x: float, y: float) -> None:
    """Draw patch into img with its top-left corner at (x, y) rounded, clipped to the image."""
    H, W = img.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0 = int(round(x)), int(round(y))
    xs, ys, xe, ye = max(x0, 0), max(y0, 0), min(x0 + pw, W), min(y0 + ph, H)
    if xe > xs and ye > ys:
        img[ys:ye, xs:xe] = patch[ys - y0:ye - y0, xs - x0:xe - x0]


class GeneratedSequence:
    """What every generated sequence shares: n frames made on demand by ``frame(i)``, exact ``box(i)``."""
    n: int

    def __len__(self) -> int:
        return self.n

    def box(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def frame(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def ground_truth(self) -> np.ndarray:
        return np.stack([self.box(i) for i in range(self.n)])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.n):
            yield self.frame(i)

    def write_otb(self, folder, grey: bool = False) -> str:
        """Write as an OTB-layout folder (img/0001.jpg ..., groundtruth_rect.txt).  ``grey=True`` writes
        single-channel (grayscale) JPEGs, as some OTB sequences are (e.g. Toy), to exercise that reading path."""
        from .sequences import write_boxes_atomic
        img_dir = os.path.join(folder, "img")
        os.makedirs(img_dir, exist_ok=True)
        code = cv2.COLOR_RGB2GRAY if grey else cv2.COLOR_RGB2BGR
        for i, f in enumerate(self):
            cv2.imwrite(os.path.join(img_dir, f"{i + 1:04d}.jpg"), cv2.cvtColor(f, code),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        write_boxes_atomic(os.path.join(folder, "groundtruth_rect.txt"), self.ground_truth())
        return folder


class SyntheticSequence(GeneratedSequence):
    """Frame i (0-based) and its exact box, computed on demand, so very long sequences cost no memory."""

    def __init__(self, n_frames: int = 60, size: Tuple[int, int] = (320, 240), target: Tuple[int, int] = (48, 56),
                 scale_amp: float = 0.35, seed: int = 0, name: str = "demo"):
        self.n, self.name = n_frames, name
        self.W, self.H = size
        tex = texture()
        th, tw = tex.shape[:2]
        self.patch = tex[int(th * 0.10):int(th * 0.52), int(tw * 0.28):int(tw * 0.72)]  # face and cap
        bg = cv2.resize(tex[:, ::-1], (self.W * 2, self.H * 2), interpolation=cv2.INTER_AREA)
        self.background = cv2.GaussianBlur(bg, (0, 0), 3)
        self.tw, self.th = target
        self.scale_amp = scale_amp
        rng = np.random.default_rng(seed)
        self.phase = rng.uniform(0, 2 * math.pi, size=3)

    def box(self, i: int) -> np.ndarray:
        t = i / 30.0
        s = 1.0 + self.scale_amp * math.sin(2 * math.pi * t / 3.0 + self.phase[2])
        w, h = self.tw * s, self.th * s
        cx = self.W / 2 + 0.28 * self.W * math.sin(2 * math.pi * t / 4.0 + self.phase[0])
        cy = self.H / 2 + 0.22 * self.H * math.sin(2 * math.pi * t / 2.7 + self.phase[1])
        return np.array([cx - w / 2, cy - h / 2, w, h])

    def frame(self, i: int) -> np.ndarray:
        t = i / 30.0
        ox = int((self.W / 2) * (1 + math.sin(2 * math.pi * t / 9.0)) / 2)  # slow camera pan
        oy = int((self.H / 2) * (1 + math.cos(2 * math.pi * t / 11.0)) / 2)
        img = self.background[oy:oy + self.H, ox:ox + self.W].copy()
        x, y, w, h = self.box(i)
        pw, ph = max(2, int(round(w))), max(2, int(round(h)))
        patch = cv2.resize(self.patch, (pw, ph), interpolation=cv2.INTER_AREA)
        paste(img, patch, x, y)
        return img


class CrossingSequence(GeneratedSequence):
    """A target that a look-alike passes in front of (occlusion by a distractor), known ground truth.

    The target (the face crop of :class:`SyntheticSequence`) moves left to right along a straight line;
    the distractor (the same face, mirrored and with its colours shifted: alike, not identical) comes the
    other way along the same line and is drawn on top, hiding the target while they cross.  A tracker
    without a way back follows the distractor out of the crossing; one that notices its confidence drop
    and searches wider finds the target again.  Used by tests/test_robust.py.
    """

    def __init__(self, n_frames: int = 50, size: Tuple[int, int] = (480, 240), target: Tuple[int, int] = (40, 48),
                 speed: float = 7.0, tint: float = 1.0, occluder_width: int = 0, name: str = "Crossing_syn"):
        self.n, self.name = n_frames, name
        self.W, self.H = size
        self.tw, self.th = target
        self.speed = speed
        base = SyntheticSequence(n_frames=1, size=size, target=target)
        self.background = base.background[: self.H, : self.W].copy()
        self.patch = cv2.resize(base.patch, (self.tw, self.th), interpolation=cv2.INTER_AREA)
        shifted = self.patch[:, ::-1].astype(np.float32) + tint * np.array([25, -20, 30], dtype=np.float32)
        self.distractor = np.clip(shifted, 0, 255).astype(np.uint8)
        self.crossing = (self.n - 1) / 2.0    # frame at which the two centres coincide
        self.occluder_width = int(occluder_width)  # > 0: a still grey bar this wide hides the target mid-way

    def _box(self, i: int, direction: float) -> np.ndarray:
        cx, cy = self.W / 2 + direction * self.speed * (i - self.crossing), self.H / 2
        return np.array([cx - self.tw / 2, cy - self.th / 2, float(self.tw), float(self.th)])

    def box(self, i: int) -> np.ndarray:
        return self._box(i, 1.0)

    def distractor_box(self, i: int) -> np.ndarray:
        return self._box(i, -1.0)

    def frame(self, i: int) -> np.ndarray:
        img = self.background.copy()
        movers = [(self.patch, self.box(i))]
        if not self.occluder_width:
            movers.append((self.distractor, self.distractor_box(i)))
        for patch, (x, y, _, _) in movers:
            paste(img, patch, x, y)
        if self.occluder_width:
            x0 = (self.W - self.occluder_width) // 2
            img[:, x0:x0 + self.occluder_width] = 128
        return img
