"""A separate 1-D scale filter (DSST: Danelljan et al., "Accurate Scale Estimation for Robust Visual
Tracking", BMVC 2014), the `scale_estimator="dsst"` option of the tracker.

TADT picks the size from three pyramid levels of its response (spec 5.5): factors 45/47, 1, 45/43
held back by the penalties 0.99 / 1.0055.  On the dev sequences most of the AUC still missing is the
size (README "Robustness": the ground-truth size at the tracker's centre would lift the mean from 0.58
to 0.66), so this module estimates it as DSST does, at the position TADT found:

* samples: ``n`` patches centred on the target, of the target's current size times ``step**k`` for
  k = -(n//2) .. n//2, each resampled to one fixed model size (about ``model_area`` px, the initial
  target's aspect ratio), described by fHOG (hog.py) and flattened: an n x D matrix, weighted by a Hann
  window along the scales;
* a correlation filter along the scale axis alone, learnt in the Fourier domain against a Gaussian label
  (sigma = ``sigma_factor * sqrt(n)`` scales): numerator  conj(G) * X, denominator sum_d |X_d|^2, both
  updated as running means with rate ``lr``;
* detection: the scale with the largest response, ``real(ifft(sum_d conj(A_d) Z_d / (B + lam)))``.

The patches come from the original frame (not TADT's rescaled one), cropped once around the largest
sample, shrunk with antialiasing to the model's pixel scale when the target is larger than the model,
and resampled per scale by one ``grid_sample`` call.  Everything stays in torch on the tracker's device.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F

from .hog import fhog


class ScaleFilter:
    def __init__(self, frame: torch.Tensor, centre: Tuple[float, float], size: Tuple[float, float],
                 n_scales: int = 33, step: float = 1.02, lr: float = 0.025, sigma_factor: float = 0.25,
                 lam: float = 0.01, model_area: float = 512.0, cell: int = 4) -> None:
        """frame: 3 x H x W (uint8 or float); centre: (x, y) in 0-based pixel-index coordinates of that frame;
        size: (w, h) of the target there."""
        if n_scales < 3 or n_scales % 2 == 0:
            raise ValueError(f"scale filter needs an odd number of scales >= 3, got {n_scales}")
        if step <= 1.0:
            raise ValueError(f"scale filter step must be > 1, got {step}")
        self.n, self.step, self.lr, self.lam, self.cell = n_scales, step, lr, lam, cell
        w, h = size
        f = math.sqrt(model_area / (w * h)) if w * h > model_area else 1.0
        # model size in whole cells, at least 2 cells a side
        self.model_w = max(2, round(w * f / cell)) * cell
        self.model_h = max(2, round(h * f / cell)) * cell
        device = frame.device
        half = n_scales // 2
        ks = torch.arange(-half, half + 1, dtype=torch.float64)
        self.factors = step ** ks                                           # smallest first
        self.window = torch.hann_window(n_scales, periodic=False).to(device)     # MATLAB hann(n), as DSST
        sigma = sigma_factor * math.sqrt(n_scales)
        label = torch.exp(-0.5 * (ks / sigma) ** 2)
        self.label_f = torch.fft.fft(torch.roll(label, -half)).to(torch.complex64).to(device)   # peak at index 0
        self.num = self.den = None
        self.learn(frame, centre, size, rate=1.0)

    # ------------------------------------------------------------------------------------------
    def samples(self, frame: torch.Tensor, centre: Tuple[float, float], size: Tuple[float, float]) -> torch.Tensor:
        """n x D features of the n scaled patches around ``centre`` (Hann-weighted along the scales)."""
        cx, cy = centre
        w, h = size
        H, W = frame.shape[-2:]
        big = self.step ** (self.n // 2)
        # one crop around the largest sample (indices clamped: the border is replicated)
        x0, x1 = math.floor(cx - w * big / 2) - 1, math.ceil(cx + w * big / 2) + 2
        y0, y1 = math.floor(cy - h * big / 2) - 1, math.ceil(cy + h * big / 2) + 2
        cols = torch.arange(x0, x1, device=frame.device).clamp_(0, W - 1)
        rows = torch.arange(y0, y1, device=frame.device).clamp_(0, H - 1)
        crop = frame.index_select(1, rows).index_select(2, cols)[None].float()   # frame: uint8 or float
        ch, cw = crop.shape[-2:]
        ry, rx = self.model_h / h, self.model_w / w
        if rx < 1.0 or ry < 1.0:   # shrink to about the model's pixel scale first (antialiased)
            crop = F.interpolate(crop, size=(max(2, round(ch * min(ry, 1.0))), max(2, round(cw * min(rx, 1.0)))),
                                 mode="bilinear", align_corners=False, antialias=True)
        # sample grid in the crop's normalised coordinates (align_corners=False: independent of its resolution)
        fac = self.factors.to(frame.device, torch.float32)[:, None]
        jx = (torch.arange(self.model_w, device=frame.device) + 0.5 - self.model_w / 2) * (w / self.model_w)
        jy = (torch.arange(self.model_h, device=frame.device) + 0.5 - self.model_h / 2) * (h / self.model_h)
        gx = ((cx + fac * jx[None]) - x0 + 0.5) / cw * 2 - 1                     # n x model_w
        gy = ((cy + fac * jy[None]) - y0 + 0.5) / ch * 2 - 1                     # n x model_h
        grid = torch.stack([gx[:, None, :].expand(-1, self.model_h, -1),
                            gy[:, :, None].expand(-1, -1, self.model_w)], dim=-1)
        patches = F.grid_sample(crop.expand(self.n, -1, -1, -1), grid, mode="bilinear",
                                padding_mode="border", align_corners=False)
        feats = fhog(patches, self.cell).flatten(1)                               # n x D
        return feats * self.window[:, None]

    def learn(self, frame: torch.Tensor, centre, size, rate: float = None, feats: torch.Tensor = None) -> None:
        """Fold the samples at (centre, size) into the filter with ``rate`` (default: the filter's lr)."""
        x = self.samples(frame, centre, size) if feats is None else feats
        xf = torch.fft.fft(x, dim=0)                                              # n x D
        num = self.label_f.conj()[:, None] * xf
        den = (xf.real ** 2 + xf.imag ** 2).sum(dim=1)
        rate = self.lr if rate is None else rate
        if self.num is None or rate >= 1.0:
            self.num, self.den = num, den
        else:
            self.num.mul_(1 - rate).add_(num, alpha=rate)
            self.den.mul_(1 - rate).add_(den, alpha=rate)

    def estimate(self, frame: torch.Tensor, centre, size) -> Tuple[float, torch.Tensor]:
        """(size factor of the best-responding scale, the samples it was read from)."""
        z = self.samples(frame, centre, size)
        zf = torch.fft.fft(z, dim=0)
        resp = torch.fft.ifft((self.num.conj() * zf).sum(dim=1) / (self.den + self.lam)).real
        best = int(torch.argmax(resp))                 # index 0 = label peak = no change
        k = best if best <= self.n // 2 else best - self.n
        return float(self.step ** k), z
