"""pytracking datasets for `tadt run --dataset NAME` (issue 12): sequences through pytracking's own
loaders and the user's ``local.py``, and results written in pytracking's own results layout.

The driver of a fan-out run (the process that runs ``tadt run``) is the only one that imports
pytracking: :func:`load` turns pytracking's ``Sequence`` objects into the core's
:class:`~tadt_plugin.sequences.Sequence_` (frame paths + ground truth), which the workers track without
pytracking; :class:`PytrackingWriter` saves a finished sequence with pytracking's own
``_save_tracker_output`` into ``<results_path>/tadt/<param>/`` (the path pytracking's ``Tracker('tadt',
PARAM)`` uses), staged and moved into place by :mod:`.atomic`, so pytracking's analysis plots it beside
other trackers without conversion.

pytracking is found as ``tadt pytracking run`` finds it (``$PYTRACKING_ROOT``, else the current folder or
a parent), or used as-is when ``import pytracking`` already works.  The extra names ``folder`` and
``otb_local`` (:mod:`.datasets`) are registered too.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from ..errors import TadtError
from ..sequences import Sequence_


def _activate() -> None:
    if "pytracking" in sys.modules or importlib.util.find_spec("pytracking") is not None:
        return
    from .checkout import ENV_VAR, activate, find_checkout
    try:
        activate(find_checkout(None))
    except TadtError as exc:
        raise TadtError(f"--dataset needs pytracking, which is not importable ({exc}); set {ENV_VAR} to a "
                        f"pytracking checkout") from None


def dataset_names() -> List[str]:
    _activate()
    from pytracking.evaluation import datasets
    from . import datasets as ours
    ours.register()
    return sorted(datasets.dataset_dict)


def load(name: str, names: Optional[Sequence[str]] = None):
    """(core sequences, their initial boxes, pytracking's sequences by name) for pytracking's `name`."""
    known = dataset_names()
    if name not in known:
        raise TadtError(f"--dataset {name}: pytracking has no dataset of that name; known: {', '.join(known)}")
    from pytracking.evaluation import get_dataset
    try:
        pt_seqs = list(get_dataset(name))
    except Exception as exc:  # pytracking's loaders raise bare Exception/RuntimeError on missing paths
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise TadtError(f"--dataset {name}: pytracking cannot load it ({msg}); check its path in "
                        f"pytracking/evaluation/local.py") from None
    by_name = {s.name: s for s in pt_seqs}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise TadtError(f"--dataset {name}: no sequence(s) {', '.join(missing)}")
        pt_seqs = [by_name[n] for n in names]
    core, inits = [], []
    for s in pt_seqs:
        if s.dataset == "oxuva" or s.object_ids is not None:
            raise TadtError(f"--dataset {name}: {s.name} has several objects or OxUvA's CSV results; "
                            f"tadt run tracks one object per sequence (use `tadt pytracking run`)")
        gt = np.asarray(s.ground_truth_rect, dtype=np.float64).reshape(-1, 4)
        init = list(map(float, s.init_info()["init_bbox"]))
        core.append(Sequence_(name=s.name, frames=[Path(f) for f in s.frames], ground_truth=gt))
        inits.append(init)  # pytracking's init box (its loaders may differ from ground-truth row 1)
    return core, inits, {s.name: s for s in pt_seqs}


class PytrackingWriter:
    """Saves a sequence as pytracking's runner does for ``Tracker('tadt', param)``."""

    def __init__(self, pt_seqs: dict, param: str):
        from pytracking.evaluation import Tracker
        self.seqs = pt_seqs
        self.tracker = Tracker("tadt", param)
        self.results_dir = Path(self.tracker.results_dir)

    def done(self, name: str) -> bool:
        return (self.results_dir / f"{name}.txt").is_file()

    def write(self, name: str, boxes, times, confidences) -> None:
        import pytracking.evaluation.running as running
        from .atomic import staged_save
        save = running._save_tracker_output
        save = getattr(save, "__wrapped__", save)  # pytracking's own writer, staged by us either way
        output = {"target_bbox": [list(map(float, b)) for b in boxes], "time": list(map(float, times)),
                  "object_presence_score": list(map(float, confidences))}
        staged_save(save, self.seqs[name], self.tracker, output)
