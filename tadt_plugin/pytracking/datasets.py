"""Two extra pytracking dataset names for users with a few local sequences (INTEGRATION.md 1.5).

* ``otb_local``: pytracking's own OTB-100 list, keeping only the sequences whose annotation file exists
  under ``otb_path``, with the official frame ranges and ``initOmit`` handling.  (Stock ``otb`` loads all
  100 annotation files before ``--sequence`` is applied, so it fails on a partial copy.)  A local copy
  with fewer frames than the official range (e.g. the first 199 frames of Human3) is cut to the frames
  present, with a warning.
* ``folder``: every sub-folder of a directory that holds frames (``<seq>/img/*`` or ``<seq>/*``, any
  common image format) and ``groundtruth_rect.txt`` or ``groundtruth.txt`` (x,y,w,h per line, comma, tab
  or space separated; 8-number polygons become their bounding box).  The directory is, in order: the
  ``root`` argument (``--folder DIR``), ``$TADT_FOLDER``, ``tadt_folder_path`` in ``local.py``, then
  ``otb_path``.

Both produce sequences tagged ``'otb'``, so pytracking's analysis scores them exactly as OTB.
:func:`register` adds them to ``pytracking.evaluation.datasets.dataset_dict``; that has to happen in the
process that parses ``--dataset_name`` (``tadt pytracking run`` / ``compare`` do it), because pytracking
has no hook for it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
from pytracking.evaluation.data import BaseDataset, Sequence, SequenceList
from pytracking.evaluation.otbdataset import OTBDataset

from ..sequences import find_ground_truth, list_images, load_boxes

FOLDER_ENV = "TADT_FOLDER"
FOLDER_SETTING = "tadt_folder_path"


def _warn(msg: str) -> None:
    print(f"tadt: warning: {msg}", file=sys.stderr)


class OTBLocalDataset(OTBDataset):
    """OTB-100 restricted to the sequences present under ``otb_path`` (official frame ranges)."""

    def __init__(self, attribute=None):
        super().__init__(attribute=attribute)
        if not self.base_path:
            raise RuntimeError("otb_path is not set in pytracking/evaluation/local.py; set it "
                               "(`tadt pytracking install PATH --otb-path DIR`) to use --dataset_name otb_local")
        if not os.path.isdir(self.base_path):
            raise RuntimeError(f"otb_path {self.base_path} (pytracking/evaluation/local.py) is not a folder")
        self.sequence_info_list = [s for s in self.sequence_info_list
                                   if os.path.isfile(os.path.join(self.base_path, s["anno_path"]))]
        if not self.sequence_info_list:
            raise RuntimeError(f"no OTB-100 sequence found under otb_path {self.base_path} "
                               f"(expected e.g. Skiing/groundtruth_rect.txt)")

    def _construct_sequence(self, sequence_info):
        seq = super()._construct_sequence(sequence_info)
        present = 0
        for f in seq.frames:
            if not os.path.isfile(f):
                break
            present += 1
        n = min(present, len(seq.ground_truth_rect))
        if n < len(seq.frames):
            _warn(f"otb_local: {seq.name}: only {n} of the official {len(seq.frames)} frames are on disk "
                  f"(and annotated); using those")
            if n < 2:
                raise RuntimeError(f"otb_local: {seq.name}: first frame {seq.frames[0]} is missing")
            seq.frames = seq.frames[:n]
        seq.ground_truth_rect = seq.ground_truth_rect[:len(seq.frames)]
        return seq

    def __len__(self):
        return len(self.sequence_info_list)


def folder_root(root: Optional[str] = None, settings=None) -> str:
    if root:
        return str(root)
    if os.environ.get(FOLDER_ENV):
        return os.environ[FOLDER_ENV]
    if settings is not None:
        for attr in (FOLDER_SETTING, "otb_path"):
            value = getattr(settings, attr, "")
            if value:
                return value
    raise RuntimeError(f"no folder for --dataset_name folder: pass --folder DIR, set ${FOLDER_ENV}, or set "
                       f"{FOLDER_SETTING} (or otb_path) in pytracking/evaluation/local.py")


class FolderDataset(BaseDataset):
    """Every OTB-layout sequence folder under a directory."""

    def __init__(self, root: Optional[str] = None):
        super().__init__()
        self.base_path = Path(folder_root(root, self.env_settings)).expanduser()
        if not self.base_path.is_dir():
            raise RuntimeError(f"folder dataset: {self.base_path} is not a folder")
        self.sequence_dirs = [p for p in sorted(self.base_path.iterdir())
                              if p.is_dir() and find_ground_truth(p) is not None]
        if not self.sequence_dirs:
            raise RuntimeError(f"folder dataset: no sequence folders (<Name>/img/*.jpg + groundtruth_rect.txt) "
                               f"under {self.base_path}")

    def get_sequence_list(self):
        return SequenceList([self._construct_sequence(p) for p in self.sequence_dirs])

    @staticmethod
    def _construct_sequence(path: Path) -> Sequence:
        img_dir = path / "img" if (path / "img").is_dir() else path
        frames: List[str] = [str(p) for p in list_images(img_dir)]
        gt = load_boxes(find_ground_truth(path))
        n = min(len(frames), len(gt))
        if n != len(frames) or n != len(gt):
            _warn(f"folder: {path.name}: {len(frames)} frames but {len(gt)} boxes; using the first {n}")
        if n == 0:
            raise RuntimeError(f"folder: {path.name}: no frames or no ground truth")
        return Sequence(path.name, frames[:n], "otb", np.asarray(gt[:n], dtype=np.float64))

    def __len__(self):
        return len(self.sequence_dirs)


def register(folder: Optional[str] = None) -> None:
    """Add ``folder`` and ``otb_local`` to pytracking's dataset_dict (idempotent)."""
    from pytracking.evaluation import datasets
    info = datasets.DatasetInfo
    datasets.dataset_dict["otb_local"] = info(module=__name__, class_name="OTBLocalDataset", kwargs=dict())
    datasets.dataset_dict["folder"] = info(module=__name__, class_name="FolderDataset",
                                           kwargs=dict(root=str(folder)) if folder else dict())
