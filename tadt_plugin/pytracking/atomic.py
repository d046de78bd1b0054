"""Atomic result files for pytracking's runner, without patching pytracking's source (issue 6).

pytracking's ``running.run_sequence`` saves a finished sequence with ``_save_tracker_output`` (or
``_save_tracker_output_oxuva``), which writes ``<seq>.txt``, ``<seq>_time.txt``,
``<seq>_object_presence_scores.txt`` (and segmentation PNGs) in place with ``np.savetxt``.  A run killed
while writing leaves a truncated ``<seq>.txt``, and since ``run_sequence`` treats an existing
``<seq>.txt`` as "done", the broken file is never redone and silently lowers the scores.

:func:`install` wraps both functions in the module ``pytracking.evaluation.running`` (a module global that
``run_sequence`` looks up at call time): pytracking's own function writes into a temporary folder next
to the results, every file is flushed to disk, then moved into place with ``os.replace`` -- the
timing, score and segmentation files first and the box files (pytracking's "done" marker) last.  The
file names and formats are exactly pytracking's.

It is installed when the TADT adapter module is imported, which pytracking does whenever the ``tadt``
tracker is used (``run_tracker.py``, ``run_experiment.py``, and in every ``--threads`` worker, where
unpickling the tracker imports the adapter), and by ``tadt pytracking run``.  It then applies to all
trackers saved by that process.  Set ``TADT_PYTRACKING_ATOMIC=0`` to leave pytracking's writer alone.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import types

from ..atomicfile import fsync_file

_FLAG = "_tadt_atomic_wrapper"


def _fsync_tree(path: str) -> None:
    for root, _dirs, files in os.walk(path):
        for name in files:
            fsync_file(os.path.join(root, name))


def _move_into(src_dir: str, dest_dir: str, last=lambda name: False) -> None:
    """Move every entry of src_dir into dest_dir with os.replace; entries for which last(name) is
    true are moved after all others.  Folders are merged entry by entry."""
    names = sorted(os.listdir(src_dir), key=lambda n: (last(n), n))
    os.makedirs(dest_dir, exist_ok=True)
    for name in names:
        src, dst = os.path.join(src_dir, name), os.path.join(dest_dir, name)
        if os.path.isdir(src) and not os.path.islink(src):
            if os.path.isdir(dst):
                _move_into(src, dst)
                continue
            if os.path.lexists(dst):
                os.unlink(dst)
        os.replace(src, dst)


def _is_box_file(name: str) -> bool:
    """pytracking's completion markers: <seq>.txt / <seq>_<obj>.txt / OxUvA <vid>_<obj>.csv."""
    return not name.endswith(("_time.txt", "_object_presence_scores.txt")) and name.endswith((".txt", ".csv"))


def staged_save(save, seq, tracker, output) -> None:
    """Call pytracking's `save(seq, tracker, output)` into a temporary folder, then move the files in."""
    results_dir = tracker.results_dir
    seg_dir = getattr(tracker, "segmentation_dir", None) or os.path.join(results_dir, "segmentation")
    os.makedirs(results_dir, exist_ok=True)
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", str(getattr(seq, "name", "seq")))[:60]
    stage = tempfile.mkdtemp(prefix=f".{tag}.", suffix=".saving", dir=results_dir)
    seg_stage = None
    try:
        has_seg = bool(output.get("segmentation")) if isinstance(output, dict) else False
        if has_seg:
            seg_parent = os.path.dirname(os.path.normpath(seg_dir))
            os.makedirs(seg_parent, exist_ok=True)
            seg_stage = tempfile.mkdtemp(prefix=f".{tag}.", suffix=".saving", dir=seg_parent)
        proxy = types.SimpleNamespace(
            results_dir=os.path.join(stage, "results"),
            segmentation_dir=os.path.join(seg_stage, "seg") if seg_stage else os.path.join(stage, "seg"),
            name=getattr(tracker, "name", None), parameter_name=getattr(tracker, "parameter_name", None),
            run_id=getattr(tracker, "run_id", None), display_name=getattr(tracker, "display_name", None))
        save(seq, proxy, output)
        _fsync_tree(stage)
        if seg_stage and os.path.isdir(proxy.segmentation_dir):
            _fsync_tree(seg_stage)
            _move_into(proxy.segmentation_dir, seg_dir)
        if os.path.isdir(proxy.results_dir):
            _move_into(proxy.results_dir, results_dir, last=_is_box_file)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if seg_stage:
            shutil.rmtree(seg_stage, ignore_errors=True)


def _wrap(save):
    @functools.wraps(save)
    def wrapper(seq, tracker, output):
        return staged_save(save, seq, tracker, output)
    setattr(wrapper, _FLAG, True)
    wrapper.__wrapped__ = save
    return wrapper


def install() -> bool:
    """Wrap pytracking's result writers (idempotent).  Returns True when the wrappers are in place."""
    if os.environ.get("TADT_PYTRACKING_ATOMIC", "1") == "0":
        return False
    import pytracking.evaluation.running as running
    for name in ("_save_tracker_output", "_save_tracker_output_oxuva"):
        fn = getattr(running, name, None)
        if fn is not None and not getattr(fn, _FLAG, False):
            setattr(running, name, _wrap(fn))
    return True


def installed() -> bool:
    import sys
    running = sys.modules.get("pytracking.evaluation.running")
    return bool(running is not None and getattr(getattr(running, "_save_tracker_output", None), _FLAG, False))
