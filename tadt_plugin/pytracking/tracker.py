"""The pytracking adapter: TADT as a pytracking ``BaseTracker`` (the only module that imports pytracking's
tracker classes; the core never does).

pytracking builds one tracker object per sequence (``Tracker.run_sequence`` -> ``TrackerClass(params)``),
and one per object in multi-object mode (``multiobj_mode = 'parallel'`` -> ``MultiObjectWrapper``).  The
core :class:`~tadt_plugin.tracker.TadtTracker` (VGG-16 backbone, about 2 s to build) is therefore kept in
a small per-process pool keyed by its parameters: a tracker object takes one in
``initialize_features()`` and gives it back when it is garbage-collected, so a run over many sequences
builds the core once, while objects tracked side by side never share one.  The verified VGG weights are
loaded once per process and shared by all cores.

Conventions handled here, at the edge:

* pytracking hands ``initialize``/``track`` an RGB uint8 HxWx3 array and ``info['init_bbox']`` =
  ``[x, y, w, h]``; the core takes exactly that (0-based pixel x,y as given; boxes are passed through).
* Outputs: ``target_bbox`` ``[x, y, w, h]`` floats, ``time`` (seconds spent in the tracker for this frame,
  building the core excluded, like pytracking's stock trackers), ``object_presence_score`` (the core's
  confidence, 1.0 on the first frame).
* Device: pytracking's ``params.use_gpu`` / ``params.device`` (see :mod:`.params`).
* Weights: pytracking's ``env_settings().network_path`` is added to the core's weight search path, so
  the VGG file may be put next to pytracking's other networks.
* Errors: pytracking's ``run_sequence`` catches every exception and prints only ``str(e)``; the adapter
  prints the full traceback to stderr first, then re-raises.
"""
from __future__ import annotations

import functools
import sys
import threading
import time
import traceback
import weakref
from typing import Dict, List, Tuple

from pytracking.tracker.base import BaseTracker

from . import atomic
from .params import from_tracker_params

atomic.install()  # atomic result files for this process (see atomic.py); TADT_PYTRACKING_ATOMIC=0 disables

_lock = threading.Lock()
_weights: Dict[Tuple, object] = {}
_free_cores: Dict[str, List[object]] = {}
MAX_FREE_PER_KEY = 4


def _network_paths() -> Tuple[str, ...]:
    try:
        from pytracking.evaluation.environment import env_settings
        paths = env_settings().network_path
    except Exception:  # no local.py: pytracking itself will say so where it matters
        return ()
    if isinstance(paths, (list, tuple)):
        return tuple(str(p) for p in paths if p)
    return (str(paths),) if paths else ()


def core_params(params):
    """The core TadtParams for a pytracking TrackerParams, with network_path added to the weight search."""
    tp = from_tracker_params(params)
    extra = tuple(p for p in _network_paths() if p not in tp.weights_search_paths)
    return tp.replace(weights_search_paths=tuple(tp.weights_search_paths) + extra) if extra else tp


def _key(tp) -> str:
    return repr(sorted(tp.to_dict().items()))


def acquire_core(tp):
    """A core TadtTracker for these parameters: a free one from the pool, else a new one."""
    key = _key(tp)
    with _lock:
        free = _free_cores.get(key)
        if free:
            return key, free.pop()
    from ..tracker import TadtTracker
    from ..weights import resolve_weights
    wkey = (tp.weights_path, tuple(tp.weights_search_paths))
    with _lock:
        weights = _weights.get(wkey)
    if weights is None:
        weights = resolve_weights(tp.weights_path, tp.weights_search_paths)
        with _lock:
            weights = _weights.setdefault(wkey, weights)
    return key, TadtTracker(tp, weights=weights)


def release_core(key: str, core) -> None:
    core.state = None  # drop the sequence's tensors; initialize() rebuilds everything
    with _lock:
        free = _free_cores.setdefault(key, [])
        if len(free) < MAX_FREE_PER_KEY and all(c is not core for c in free):
            free.append(core)


def clear_pool() -> None:
    with _lock:
        _free_cores.clear()
        _weights.clear()


def _log_exceptions(method):
    """Print the full traceback to stderr, then re-raise (pytracking prints only str(e))."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not getattr(exc, "_tadt_logged", False):
                print(f"tadt: exception in TADT.{method.__name__}() at frame {self.frame_num + 1} "
                      f"(pytracking will print only the last line and skip the sequence):", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                sys.stderr.flush()
                try:
                    exc._tadt_logged = True
                except AttributeError:
                    pass
            raise
    return wrapper


class TADT(BaseTracker):
    """TADT (Target-Aware Deep Tracking, CVPR 2019) for pytracking."""

    multiobj_mode = "parallel"

    def __init__(self, params):
        super().__init__(params)
        self.core = None
        self.frame_num = 0
        self._finalizer = None

    def __deepcopy__(self, memo):
        # MultiObjectWrapper(fast_load=True) deep-copies a template tracker per object: give each copy its
        # own core from the pool instead of copying tensors.
        other = type(self)(self.params)
        other.visdom = self.visdom
        return other

    @_log_exceptions
    def initialize_features(self):
        if self.core is None:
            key, core = acquire_core(core_params(self.params))
            self.core = core
            self._finalizer = weakref.finalize(self, release_core, key, core)

    @_log_exceptions
    def initialize(self, image, info: dict) -> dict:
        self.frame_num = 0
        self.initialize_features()
        box = [float(v) for v in info["init_bbox"]]
        tic = time.time()
        self.init_info = self.core.initialize(image, box)
        return {"target_bbox": box, "time": time.time() - tic, "object_presence_score": 1.0}

    @_log_exceptions
    def track(self, image, info: dict = None) -> dict:
        self.frame_num += 1
        tic = time.time()
        box, confidence = self.core.track(image)
        return {"target_bbox": [float(v) for v in box], "time": time.time() - tic,
                "object_presence_score": float(confidence)}


def get_tracker_class():
    return TADT
