"""Reading sequences (OTB-layout folders, image folders, video files) and writing results atomically.

OTB layout: ``<Name>/img/0001.jpg ...`` plus ``groundtruth_rect.txt`` (x,y,w,h per line, comma, tab or
space separated).  Frames are read with OpenCV and returned as RGB uint8 (grey, RGBA and 16-bit
converted by :func:`tadt_plugin.frames.to_rgb_uint8`).  Result files are written to a temporary file
in the same folder and renamed, so a crash never leaves a half-written result behind.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import cv2
import numpy as np

from .errors import BadFrameError, TadtError
from .frames import to_rgb_uint8

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")
GT_NAMES = ("groundtruth_rect.txt", "groundtruth.txt")


def read_frame(path) -> np.ndarray:
    """RGB uint8 HxWx3 frame from an image file; BadFrameError if it is missing or unreadable."""
    p = str(path)
    if not os.path.isfile(p):
        raise BadFrameError(f"frame {p} does not exist")
    img = cv2.imread(p, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise BadFrameError(f"frame {p} cannot be decoded (truncated or not an image)")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return to_rgb_uint8(img, f"frame {p}")


def load_boxes(path, allow_invalid: bool = True) -> np.ndarray:
    """N x 4 float array from a text file of x,y,w,h rows (comma, tab or whitespace separated).
    Rows such as 'NaN' or VOT status codes become NaN rows when allow_invalid."""
    rows: List[List[float]] = []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            vals = [v for v in re.split(r"[,\s;]+", line) if v]
            try:
                nums = [float(v) for v in vals]
            except ValueError:
                nums = []
            if len(nums) == 4:
                rows.append(nums)
            elif len(nums) == 8:  # polygon -> axis-aligned bounding box
                xs, ys = nums[0::2], nums[1::2]
                rows.append([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
            elif allow_invalid:
                rows.append([float("nan")] * 4)
            else:
                raise TadtError(f"{path}:{ln}: expected x,y,w,h, got {line!r}")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def write_boxes_atomic(path, boxes: Sequence[Sequence[float]], fmt: str = "{:.2f}", sep: str = ",") -> None:
    """Write one x,y,w,h line per box via a temporary file and os.replace (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as f:
            for b in boxes:
                f.write(sep.join(fmt.format(float(v)) for v in b) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass
class Sequence_:
    """A sequence of frames: image paths or a video, with optional ground truth."""
    name: str
    frames: Optional[List[Path]] = None
    video: Optional[Path] = None
    ground_truth: Optional[np.ndarray] = None

    def __len__(self) -> int:
        if self.frames is not None:
            return len(self.frames)
        cap = cv2.VideoCapture(str(self.video))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        return n

    def iter_frames(self) -> Iterator[np.ndarray]:
        if self.frames is not None:
            for p in self.frames:
                yield read_frame(p)
            return
        cap = cv2.VideoCapture(str(self.video))
        if not cap.isOpened():
            raise BadFrameError(f"video {self.video} cannot be opened")
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                yield to_rgb_uint8(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), f"video frame of {self.video}")
        finally:
            cap.release()


Sequence = Sequence_


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def list_images(folder: Path) -> List[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()),
                  key=_natural_key)


def find_ground_truth(folder: Path) -> Optional[Path]:
    for name in GT_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def check_numbering(frames: List[Path]) -> None:
    """Numbered frames (0001.jpg, 0002.jpg, ...) must have no gap: a missing frame would silently shift
    every later frame against its ground-truth row."""
    if not all(p.stem.isdigit() for p in frames):
        return
    nums = [int(p.stem) for p in frames]
    for a, b, p in zip(nums, nums[1:], frames):
        if b != a + 1:
            missing = f"{a + 1:0{len(p.stem)}d}{p.suffix}"
            raise BadFrameError(f"frame {p.parent / missing} is missing (frames {p.name} .. "
                                f"{b:0{len(p.stem)}d}{p.suffix} are not consecutive)")


def is_otb_sequence(folder: Path) -> bool:
    folder = Path(folder)
    return (folder / "img").is_dir() and find_ground_truth(folder) is not None


def open_source(source) -> Sequence_:
    """An OTB-layout folder, a plain folder of images (with or without ground truth) or a video file."""
    src = Path(source)
    if src.is_file():
        if src.suffix.lower() not in VIDEO_EXTS:
            raise TadtError(f"{src} is not a video file ({', '.join(VIDEO_EXTS)}) or a sequence folder")
        return Sequence_(name=src.stem, video=src)
    if not src.is_dir():
        raise TadtError(f"sequence source {src} does not exist")
    img_dir = src / "img" if (src / "img").is_dir() else src
    frames = list_images(img_dir)
    if not frames:
        raise TadtError(f"no image frames ({', '.join(IMAGE_EXTS)}) found in {img_dir}")
    check_numbering(frames)
    gt_path = find_ground_truth(src)
    gt = load_boxes(gt_path) if gt_path else None
    if gt is not None and len(gt) < len(frames):
        raise TadtError(f"{gt_path} has {len(gt)} boxes for {len(frames)} frames")
    return Sequence_(name=src.name, frames=frames, ground_truth=gt)


def discover_sequences(root, names: Optional[Sequence[str]] = None) -> List[Sequence_]:
    """OTB-layout sequences below root (sorted), optionally restricted to the given names."""
    root = Path(root)
    if not root.is_dir():
        raise TadtError(f"sequence root {root} is not a folder")
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and is_otb_sequence(p)}
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            raise TadtError(f"sequence(s) {', '.join(missing)} not found under {root}")
        return [open_source(found[n]) for n in names]
    return [open_source(p) for p in found.values()]
