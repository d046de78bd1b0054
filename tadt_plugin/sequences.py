"""Reading sequences (OTB-layout folders, image folders, video files) and writing results atomically.

OTB layout: ``<Name>/img/0001.jpg ...`` plus ``groundtruth_rect.txt`` (x,y,w,h per line, comma, tab or
space separated).  Frames are read with OpenCV and returned as RGB uint8 (grey, RGBA and 16-bit
converted by :func:`tadt_plugin.frames.to_rgb_uint8`).  Result files are written to a temporary file
in the same folder and renamed, so a crash never leaves a half-written result behind.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import cv2
import numpy as np

from .atomicfile import atomic_write
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


VOT_STATUS_CODES = ("0", "1", "2")   # VOT text results: 1 = initialisation, 2 = failure, 0 = skipped frame


def read_text_lines(path, what: str) -> List[str]:
    """The lines of a text file, or a one-line TadtError naming the file (missing, a folder, unreadable,
    not text)."""
    p = Path(path)
    if p.is_dir():
        raise TadtError(f"{what} {p} is a folder, not a file")
    try:
        with open(p, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise TadtError(f"{what} {p} does not exist") from None
    except UnicodeDecodeError:
        raise TadtError(f"{what} {p} is not a text file of x,y,w,h lines") from None
    except OSError as exc:
        raise TadtError(f"{what} {p} cannot be read ({exc.strerror or exc})") from None


def load_boxes(path, results: bool = False, what: Optional[str] = None) -> np.ndarray:
    """N x 4 float array from a text file of x,y,w,h rows (comma, tab, semicolon or space separated);
    8-number rows are polygons and become their axis-aligned bounding box.  Blank lines are skipped.

    Every other line is an error naming the file and the line, except where the format allows it:
    * ground truth (default): NaN rows (``NaN,NaN,NaN,NaN`` or a lone ``NaN``: the target is absent,
      as in UAV123) become NaN rows;
    * results (``results=True``): boxes must be finite; a VOT status line (``1`` initialisation,
      ``2`` failure, ``0`` skipped) becomes a NaN row, which scores as a miss.
    """
    what = what or ("results file" if results else "ground truth")
    rows: List[List[float]] = []
    for ln, raw in enumerate(read_text_lines(path, what), 1):
        line = raw.strip()
        if not line:
            continue
        vals = [v for v in re.split(r"[,\s;]+", line) if v]
        try:
            nums = [float(v) for v in vals]
        except ValueError:
            nums = None
        nan_row = nums is not None and len(nums) in (1, 4) and all(math.isnan(v) for v in nums)
        if results and len(vals) == 1 and vals[0] in VOT_STATUS_CODES:
            rows.append([math.nan] * 4)
        elif nan_row and not results:
            rows.append([math.nan] * 4)
        elif nums is not None and len(nums) in (4, 8) and all(math.isfinite(v) for v in nums):
            if len(nums) == 8:
                xs, ys = nums[0::2], nums[1::2]
                nums = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            rows.append(nums)
        else:
            expected = "x,y,w,h with finite numbers (or a VOT status line 0/1/2)" if results else "x,y,w,h"
            raise TadtError(f"{what} {path}, line {ln}: expected {expected}, got {line[:60]!r}")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def load_results(path, n_frames: int, allow_short: bool = False) -> np.ndarray:
    """A results file checked against its sequence: parsable lines (:func:`load_boxes`) and exactly one
    row per ground-truth frame.  ``allow_short`` accepts a truncated file (fewer rows; the scorer
    counts the missing frames as failures); a longer file is always an error."""
    boxes = load_boxes(path, results=True)
    if len(boxes) > n_frames or (len(boxes) < n_frames and not allow_short):
        hint = "" if len(boxes) > n_frames else " (--allow-short scores a truncated run, missing frames as failures)"
        raise TadtError(f"results file {path} has {len(boxes)} boxes for {n_frames} ground-truth frames{hint}")
    return boxes


def write_boxes_atomic(path, boxes: Sequence[Sequence[float]], fmt: str = "{:.2f}", sep: str = ",") -> None:
    """Write one x,y,w,h line per box atomically (:func:`tadt_plugin.atomicfile.atomic_write`)."""
    atomic_write(path, "".join(sep.join(fmt.format(float(v)) for v in b) + "\n" for b in boxes))


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
        return max(n, 0)   # some containers do not say (-1): 0 = unknown

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


def check_video(path: Path) -> None:
    """The video opens and its first frame decodes, else a BadFrameError naming the file."""
    if not os.access(path, os.R_OK):
        raise BadFrameError(f"video {path} cannot be read (permission denied)")
    quiet = "OPENCV_FFMPEG_LOGLEVEL" not in os.environ
    if quiet:  # FFmpeg's own complaint ("moov atom not found") would come before our one-line error
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"
    cap = cv2.VideoCapture(str(path))
    try:
        ok = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
        if quiet:
            del os.environ["OPENCV_FFMPEG_LOGLEVEL"]
    if not ok:
        raise BadFrameError(f"video {path} cannot be opened or decoded (not a video, truncated, or an "
                            f"unsupported codec)")


def is_otb_sequence(folder: Path) -> bool:
    folder = Path(folder)
    return (folder / "img").is_dir() and find_ground_truth(folder) is not None


def open_source(source) -> Sequence_:
    """An OTB-layout folder, a plain folder of images (with or without ground truth) or a video file."""
    src = Path(source)
    if src.is_file():
        if src.suffix.lower() not in VIDEO_EXTS:
            raise TadtError(f"{src} is not a video file ({', '.join(VIDEO_EXTS)}) or a sequence folder")
        check_video(src)
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
    if gt is not None and len(gt) == 0:
        raise TadtError(f"ground truth {gt_path} is empty (no x,y,w,h line for {len(frames)} frames)")
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
