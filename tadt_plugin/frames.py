"""Turn whatever image array a caller has into the RGB uint8 HxWx3 array the tracker works on.

Grey (HxW or HxWx1) is replicated to 3 channels (spec 1), RGBA drops alpha, 16-bit and float images
are scaled to 8 bits.  Anything else is a :class:`BadFrameError` naming what is wrong.
"""
from __future__ import annotations

import numpy as np

from .errors import BadFrameError


def to_rgb_uint8(image, what: str = "frame") -> np.ndarray:
    if image is None:
        raise BadFrameError(f"{what} is missing (got None)")
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise BadFrameError(f"{what} has shape {arr.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadFrameError(f"{what} is empty (shape {arr.shape})")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise BadFrameError(f"{what} contains NaN or infinite pixel values")
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        arr = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    else:
        raise BadFrameError(f"{what} has unsupported pixel type {arr.dtype}")
    return np.ascontiguousarray(arr)
