"""Copies derived from tensors (packed convolution weights), each kept while its source tensors are
unchanged.

Both backbones keep one: the float backbone its oneDNN-packed weights (``backbone.VGG16Conv4``), the
int8 one its packed int8 weights (``quantized``).  An entry is valid while every source is the same
tensor object with the same version (an in-place edit bumps it; inference tensors have none), storage pointer, dtype and device
(``Module.to()`` and ``.float()`` swap a parameter's storage in place without a version bump).  Sources
are held by weak reference: an entry whose source was freed (a finished sequence's pruned conv4_3) is
dropped at the next insertion, and a freed tensor's id, reused by a new one, never matches.
"""
from __future__ import annotations

import threading
import weakref
from typing import Callable, Dict, List, Tuple, TypeVar

import torch

T = TypeVar("T")


def _state(t: torch.Tensor) -> tuple:
    # inference tensors (made under torch.inference_mode, as a sequence's pruned conv4_3) have no version
    # counter: for them the object, storage, dtype and device decide
    return None if t.is_inference() else t._version, t.data_ptr(), t.dtype, t.device


class DerivedCache:
    """``cache.get(make, *sources)`` returns ``make()``'s value for these sources, made once while they
    stay unchanged (module docstring).  Thread-safe; ``make`` runs outside the lock."""

    def __init__(self) -> None:
        self._entries: Dict[tuple, Tuple[List[weakref.ref], tuple, object]] = {}
        self._lock = threading.Lock()

    def get(self, make: Callable[[], T], *sources: torch.Tensor) -> T:
        key, state = tuple(id(t) for t in sources), tuple(_state(t) for t in sources)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] == state and all(r() is t for r, t in zip(entry[0], sources)):
                return entry[2]
        value = make()
        with self._lock:
            self._entries = {k: e for k, e in self._entries.items() if all(r() is not None for r in e[0])}
            self._entries[key] = ([weakref.ref(t) for t in sources], state, value)
        return value

    def discard(self, *sources: torch.Tensor) -> None:
        with self._lock:
            self._entries.pop(tuple(id(t) for t in sources), None)

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries.values() if all(r() is not None for r in e[0]))
