"""OTB one-pass evaluation: success AUC (IoU thresholds 0:0.05:1) and precision at 20 px.

Frames whose ground truth is invalid (NaN, non-positive size) are left out.  ``start`` selects the
first scored frame (0-based); the default 1 scores frames 2..N, as needed for the authors' TADT
results whose first row is in rescaled coordinates.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_PX = 20.0


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0)


def center_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ca = a[:, :2] + a[:, 2:] / 2.0
    cb = b[:, :2] + b[:, 2:] / 2.0
    err = np.sqrt(((ca - cb) ** 2).sum(axis=1))
    return np.nan_to_num(err, nan=np.inf)


def success_curve(overlaps: np.ndarray) -> np.ndarray:
    return np.array([(overlaps > t).mean() if overlaps.size else 0.0 for t in IOU_THRESHOLDS])


def evaluate(result: np.ndarray, gt: np.ndarray, start: int = 1) -> Dict[str, object]:
    """Score one sequence.  A result shorter than the ground truth counts missing frames as failures."""
    gt = np.asarray(gt, float).reshape(-1, 4)
    res = np.full_like(gt, np.nan)
    r = np.asarray(result, float).reshape(-1, 4)[: len(gt)]
    res[: len(r)] = r
    valid = np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    valid[:start] = False
    ov = iou(res[valid], gt[valid])
    ce = center_error(res[valid], gt[valid])
    curve = success_curve(ov)
    return {"auc": float(curve.mean()), "precision": float((ce <= PRECISION_PX).mean()) if ce.size else 0.0,
            "curve": curve, "frames": int(valid.sum()), "mean_iou": float(ov.mean()) if ov.size else 0.0}
