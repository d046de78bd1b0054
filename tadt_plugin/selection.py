"""The target-aware feature module, first frame only (TADT_SPEC.md section 4).

* :func:`regression_scores` - regression branch (4.1): a 512->1 conv per layer fitted to a Gaussian
  label with the authors' exp(Y)-weighted dead-zone L2 loss and Adam (coupled weight decay); the
  per-channel importance is the spatial sum of the converged filter.  Each layer is fitted on its own,
  with its own early stop, in ``reg_dtype`` (float64 by default: the selection then does not depend on
  rounding, params.py); the correlation runs through partial DFTs (:class:`_DFTCorrelator`, the
  default), full-plane FFTs (:class:`_FFTCorrelator`) or conv2d, chosen by ``regression_backend``.
* :func:`ranking_mask` - ranking branch on conv4_1 (4.2, A1) in three modes: ``faithful`` (one
  backward pass at the random init, as the authors' code does), ``trained`` (the pair loss written
  the intended way, trained, then filter sums > 0) and ``off``.
* :func:`select_channels` - budgets, minimum total and the layer balance factor (4.3).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import List, Tuple

import torch
import torch.nn.functional as F

from .params import TadtParams


@dataclass
class Selection:
    idx41: torch.Tensor      # selected conv4_1 channels (ascending), long
    idx43: torch.Tensor      # selected conv4_3 channels (ascending), long
    w41: float               # balance factor applied to conv4_1
    reg_steps: Tuple[int, int]      # Adam steps taken (conv4_1, conv4_3)
    reg_peak: Tuple[float, float]   # fitted prediction peak per layer (diagnostic: the label peak is 1)
    rank_kept: int           # channels the ranking mask keeps (of 512)
    seconds: Tuple[float, float] = (0.0, 0.0)  # time in the regression and ranking branches

    @property
    def counts(self) -> Tuple[int, int]:
        return int(self.idx41.numel()), int(self.idx43.numel())


def kernel_size(ht: int, wt: int) -> Tuple[int, int]:
    """Regression/ranking kernel: template + 2 (odd), spec 4.1."""
    return 2 * math.ceil(ht / 2) + 1, 2 * math.ceil(wt / 2) + 1


def gaussian_label(feat: int, ht: int, wt: int, sigma_factor: float = 0.1, exp_factor: float = 0.2,
                   device=None) -> torch.Tensor:
    """feat x feat label, peak at the centre cell, sigma = 0.1 * template, exp(-0.2 d^2/sigma^2)."""
    c = feat // 2
    d = torch.arange(feat, dtype=torch.float32, device=device) - c
    sy, sx = sigma_factor * ht, sigma_factor * wt
    return torch.exp(-exp_factor * (d[:, None] ** 2 / sy ** 2 + d[None, :] ** 2 / sx ** 2))


def init_filter(c: int, kh: int, kw: int, scale: float, seed: int) -> torch.Tensor:
    """randn / (sqrt(rh*rw*C) / scale) with a fixed seed, identical for every layer and sequence (spec 4.1)."""
    g = torch.Generator().manual_seed(seed)
    rh, rw = (kh - 1) // 2, (kw - 1) // 2
    denom = math.sqrt(max(rh * rw, 1) * c)
    return torch.randn(1, c, kh, kw, generator=g) / denom * scale


class _FFTCorrelator:
    """'Same'-padded correlation of fixed maps X (L x C x F x F) with per-layer filters, and the
    filter gradient, via FFT.  Same values as conv2d up to float error (~1e-5 relative) at a small
    fraction of the cost of conv2d's backward for these large kernels."""

    def __init__(self, x: torch.Tensor, kh: int, kw: int):
        self.F, self.kh, self.kw = x.shape[-1], kh, kw
        self.size = (self.F + kh - 1, self.F + kw - 1)
        self.xh = torch.fft.rfft2(x, s=self.size)

    def forward(self, w: torch.Tensor) -> torch.Tensor:  # w: L x C x kh x kw -> L x F x F
        wh = torch.fft.rfft2(w.flip(-1, -2), s=self.size)
        full = torch.fft.irfft2((self.xh * wh).sum(1), s=self.size)
        ph, pw = self.kh // 2, self.kw // 2
        return full[:, ph:ph + self.F, pw:pw + self.F]

    def filter_grad(self, g: torch.Tensor) -> torch.Tensor:  # g: L x F x F -> L x C x kh x kw
        gh = torch.fft.rfft2(g.flip(-1, -2), s=self.size)
        full = torch.fft.irfft2(self.xh * gh[:, None], s=self.size)
        y0, x0 = self.F - 1 - self.kh // 2, self.F - 1 - self.kw // 2
        return full[:, :, y0:y0 + self.kh, x0:x0 + self.kw]


class _ConvCorrelator:
    """The same two operations with conv2d and its weight gradient (the direct route, as the authors'
    vl_nnconv computes them): the reference for :class:`_FFTCorrelator` and the "before" path of the
    benchmark (``regression_backend="conv"``)."""

    def __init__(self, x: torch.Tensor, kh: int, kw: int):
        self.L, self.C, self.F = x.shape[0], x.shape[1], x.shape[-1]
        self.kh, self.kw = kh, kw
        self.x = x.reshape(1, self.L * self.C, self.F, self.F)  # one grouped conv for both layers
        self.pad = (kh // 2, kw // 2)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.x, w, padding=self.pad, groups=self.L)[0]

    def filter_grad(self, g: torch.Tensor) -> torch.Tensor:
        return torch.nn.grad.conv2d_weight(self.x, (self.L, self.C, self.kh, self.kw), g[None],
                                           padding=self.pad, groups=self.L)


def _smooth_size(n: int) -> int:
    """The smallest 2-3-5-smooth integer >= n (sizes pocketfft / cuFFT transform fastest)."""
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


class _DFTCorrelator:
    """The same two operations as :class:`_FFTCorrelator` (same zero padding, same values up to float
    error), with the filter side of both transforms done as small dense DFT matrices: the filters live
    on a kh x kw support, so transforming them (forward) and recovering only that support from the
    filter gradient's spectrum (gradient) are two thin matrix products per channel instead of full
    N1 x N2 FFTs of 2 x 512 mostly-zero maps, and the channel sum runs inside batched matrix products
    (no C x N1 x N2 temporaries).  Measured on this project's 2-core AVX-512 EPYC, 2 threads, float64,
    one layer, 512 channels, F = 45, 17 x 17 filter: forward 6.2 ms, gradient 6.4 ms; the 8 dev first
    frames' regressions 5.4 s in all against 6.5-8.1 s with elementwise products, and 4.46 s against 5.60 s
    (best of 3, interleaved) with the smaller circular size below; same channels, same steps."""

    def __init__(self, x: torch.Tensor, kh: int, kw: int):
        self.F, self.kh, self.kw = x.shape[-1], kh, kw
        # circular size F + k//2 (not the linear F + k - 1): the wrap-around then lands only outside the
        # F x F output and outside the k x k gradient support (both read below), ~25% less work per step
        n1, n2 = _smooth_size(self.F + kh // 2), _smooth_size(self.F + kw // 2)
        self.size = (n1, n2)
        xh = torch.fft.rfft2(x, s=self.size)                               # L x C x n1 x n2r
        self.x_vuc = xh.permute(0, 3, 2, 1).contiguous()                   # L x n2r x n1 x C (forward)
        self.x_uvc = xh.permute(0, 2, 3, 1).contiguous()                   # L x n1 x n2r x C (gradient)
        dev = x.device
        cdt = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        u = torch.arange(n1, dtype=torch.float64, device=dev)
        v = torch.arange(n2 // 2 + 1, dtype=torch.float64, device=dev)
        i = torch.arange(kh, dtype=torch.float64, device=dev)
        j = torch.arange(kw, dtype=torch.float64, device=dev)
        two_pi = 2 * math.pi
        # rfft2 of the flipped, zero-padded filter: w[a, b] sits at (kh-1-a, kw-1-b)
        self.er = torch.exp(-1j * two_pi * torch.outer(u, kh - 1 - i) / n1).to(cdt)      # n1 x kh
        self.ec = torch.exp(-1j * two_pi * torch.outer(kw - 1 - j, v) / n2).to(cdt)      # kw x n2r
        # irfft2 evaluated only on the rows y0.. and columns x0.. that hold the kh x kw filter gradient;
        # the one-sided spectrum counts twice except at DC and (even n2) Nyquist, whose imaginary parts
        # irfft ignores, as .real below does
        y0, x0 = self.F - 1 - kh // 2, self.F - 1 - kw // 2
        twice = torch.full_like(v, 2.0)
        twice[0] = 1.0
        if n2 % 2 == 0:
            twice[-1] = 1.0
        self.dr = (torch.exp(1j * two_pi * torch.outer(y0 + i, u) / n1) / n1).to(cdt)    # kh x n1
        self.dc = (torch.exp(1j * two_pi * torch.outer(v, x0 + j) / n2) * (twice / n2)[:, None]
                   ).to(cdt)                                                                         # n2r x kw
        # the same two matrices transposed: the products below then write their outputs in the layout
        # the next product reads (no copies), ~25% faster per step than the untransposed order
        self.ecT = self.ec.T.contiguous()                                                            # n2r x kw
        self.dcT = self.dc.T.contiguous()                                                            # kw x n2r

    def forward(self, w: torch.Tensor) -> torch.Tensor:  # w: L x C x kh x kw -> L x F x F
        # sum_c xh[c] * (er @ w[c] @ ec), with the channel sum done inside one batched matrix product
        # per frequency column (no L x C x n1 x n2r temporary; ~2x faster in float64)
        L, C = w.shape[:2]
        wc = w.to(self.er.dtype).reshape(L, C * self.kh, self.kw)
        a = (self.ecT @ wc.transpose(1, 2)).view(L, -1, C, self.kh)       # L x n2r x C x kh
        m = self.x_vuc @ a                                                  # L x n2r x n1 x kh
        spec = (m * self.er).sum(-1).transpose(1, 2)                        # L x n1 x n2r
        full = torch.fft.irfft2(spec, s=self.size)
        ph, pw = self.kh // 2, self.kw // 2
        return full[:, ph:ph + self.F, pw:pw + self.F]

    def filter_grad(self, g: torch.Tensor) -> torch.Tensor:  # g: L x F x F -> L x C x kh x kw
        # sum_uv dr[i,u] xh[c,u,v] gh[u,v] dc[v,j], the v sum as one batched product per frequency row
        gh = torch.fft.rfft2(g.flip(-1, -2), s=self.size)                  # L x n1 x n2r
        t = (gh[:, :, None, :] * self.dcT) @ self.x_uvc                     # L x n1 x kw x C
        L, n1, kw, C = t.shape
        out = (self.dr @ t.reshape(L, n1, kw * C)).reshape(L, self.kh, kw, C)
        return out.real.permute(0, 3, 1, 2).contiguous()


CORRELATORS = {"dft": _DFTCorrelator, "fft": _FFTCorrelator, "conv": _ConvCorrelator}


def _fit_layer(x: torch.Tensor, label: torch.Tensor, kh: int, kw: int, p: TadtParams):
    """One layer's regression (x: 1 x C x F x F).  Returns (filter 1 x C x kh x kw, steps, peak)."""
    dev, dt = x.device, torch.float64 if p.reg_dtype == "float64" else torch.float32
    label = label.to(dt)
    wexp = torch.exp(label)
    n = label.numel()
    w = init_filter(x.shape[1], kh, kw, p.reg_init_scale, p.seed).to(dev, dt)
    b = torch.zeros(1, device=dev, dtype=dt)
    corr = CORRELATORS[p.regression_backend](x.to(dt), kh, kw)
    # the gradients are the correlators' (no autograd graph); Adam's weight_decay is the coupled L2 the
    # authors' loss has, on the filter and the bias alike (the same optimiser as ranking_mask's "trained")
    # fused: one kernel per update instead of ~10 (the same selected channels and steps on the 8 OTB dev
    # first frames; the regression 5% faster on the AVX2 EPYC); torch builds without a fused CPU Adam
    # (before 2.4) take the default one
    def adam(**fused):   # fresh groups each time: the optimiser fills its settings into them
        return torch.optim.Adam([{"params": [w], "lr": p.reg_lr},
                                 {"params": [b], "lr": p.reg_lr * p.reg_bias_lr_mult}],
                                weight_decay=p.reg_weight_decay, **fused)
    try:
        opt = adam(fused=True)
    except (RuntimeError, TypeError, ValueError):
        opt = adam()
    steps = 0
    for t in range(1, p.reg_max_steps + 1):
        pred = corr.forward(w) + b.view(1, 1, 1)
        r = pred - label
        r = torch.where(r.abs() >= p.reg_dead_zone, r, torch.zeros_like(r))
        loss_value = float(((wexp * r) ** 2).sum())
        grad_pred = (2.0 / n) * wexp * r
        w.grad = corr.filter_grad(grad_pred).contiguous()   # fused Adam reads the gradient in the filter's layout
        b.grad = grad_pred.sum(dim=(1, 2))
        opt.step()
        steps = t
        if loss_value < p.reg_stop_loss:  # the step whose pre-step loss is below the stop is the last
            break
    peak = float((corr.forward(w) + b.view(1, 1, 1)).amax())
    return w, steps, peak


def regression_scores(feats: torch.Tensor, ht: int, wt: int, p: TadtParams):
    """feats: L x C x F x F (already multiplied by feature_scale).  Returns (scores L x C, steps per
    layer, prediction peak per layer).  Implements the MATLAB objective: gradient (2/n) exp(Y) r on
    entries with |r| >= dead zone; Adam lr (bias x2), coupled weight decay; stop after the step whose
    pre-step loss sum((exp(Y) r)^2) < reg_stop_loss.  Each layer is fitted on its own (same initial
    filter), so it stops at its own step and costs nothing after; the correlation runs through
    :data:`CORRELATORS` [``regression_backend``] (default "dft", :class:`_DFTCorrelator`, in float64;
    params.py says why).

    The stop is a threshold on a dead-zoned loss, so in float32 the step it fires at (and with it the
    selected conv4_3 channels) moves with rounding: the three backends give the same filters to ~1e-5 but
    selections that agree at Jaccard ~0.86-0.95, not 1.  In float64 (the default) they agree exactly."""
    L, C, Fh, Fw = feats.shape
    kh, kw = kernel_size(ht, wt)
    label = gaussian_label(Fh, ht, wt, p.label_sigma_factor, p.label_exp_factor, feats.device)
    scores, steps, peaks = [], [], []
    for layer in range(L):
        w, n_steps, peak = _fit_layer(feats[layer:layer + 1], label, kh, kw, p)
        scores.append(w.sum(dim=(2, 3))[0].float())  # spatial sum of the converged filter (spec 4.1)
        steps.append(n_steps)
        peaks.append(peak)
    return torch.stack(scores), steps, peaks


def ranking_sizes(feat: int, kh: int, kw: int) -> List[int]:
    """Odd map sizes for the scale samples, symmetric around feat (spec 4.2)."""
    b = max(kh, kw) // 2
    c = feat // 2 + 1
    sizes = [2 * k + 1 for k in range(b, 2 * (c - 1) + 1)]
    if feat not in sizes:
        return []
    i = sizes.index(feat)
    pad = min(i, len(sizes) - 1 - i)
    return sizes[i - pad:i + pad + 1]


def ranking_samples(feat41: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """N x C x kh x kw centred crops of the conv4_1 map resized to each ranking size (bicubic,
    antialiased when shrinking, like MATLAB imresize)."""
    C, Fh, Fw = feat41.shape
    out = []
    for r in ranking_sizes(Fh, kh, kw):
        m = feat41[None] if r == Fh else F.interpolate(feat41[None], size=(r, r), mode="bicubic",
                                                          align_corners=False, antialias=True)
        cy = (r - 1) // 2
        out.append(m[0, :, cy - kh // 2: cy + kh // 2 + 1, cy - kw // 2: cy + kw // 2 + 1])
    return torch.stack(out) if out else feat41.new_zeros(0, C, kh, kw)


def adjacent_pairs(n: int) -> List[Tuple[int, int]]:
    """(u, v) pairs, u the sample closer to scale 1, adjacent only (spec 4.2)."""
    m = (n + 1) // 2 - 1  # 0-based index of the scale-1 sample
    return [(i, i - 1) for i in range(1, m + 1)] + [(i, i + 1) for i in range(m, n - 1)]


def ranking_mask(feat41: torch.Tensor, ht: int, wt: int, p: TadtParams) -> torch.Tensor:
    """Boolean C-vector of 'scale-sensitive' conv4_1 channels.  feat41: C x F x F, scaled."""
    C = feat41.shape[0]
    kh, kw = kernel_size(ht, wt)
    if p.rank_mode == "off":
        return torch.ones(C, dtype=torch.bool, device=feat41.device)
    samples = ranking_samples(feat41, kh, kw)
    if samples.shape[0] < 3:  # too few scales for pairs (spec A5): keep every channel
        return torch.ones(C, dtype=torch.bool, device=feat41.device)
    pairs = adjacent_pairs(samples.shape[0])
    u = torch.tensor([a for a, _ in pairs], device=feat41.device)
    v = torch.tensor([b for _, b in pairs], device=feat41.device)
    w0 = init_filter(C, kh, kw, p.reg_init_scale, p.seed).to(feat41.device)[0]
    if p.rank_mode == "faithful":
        # One backward pass at the random initial weights, with the gradient the authors' layer sends:
        # u gets -exp(-f_u)/L, v gets +exp(f_v)/L, L = log(1 + sum exp(f_u - f_v)).  The input gradient of
        # sample s is g_s * W, so channel c scores (sum_s g_s) * sum_yx W_c (spec 4.2).  float64: f ~ 1e-6.
        s64 = samples.double()
        w64 = w0.double()
        f = (s64 * w64).sum(dim=(1, 2, 3))
        lval = torch.log1p(torch.exp(f[u] - f[v]).sum())
        g = torch.zeros_like(f)
        g.index_add_(0, u, -torch.exp(-f[u]) / lval)
        g.index_add_(0, v, torch.exp(f[v]) / lval)
        score = g.sum() * w64.sum(dim=(1, 2))
        return score > 0
    # "trained": fit the no-padding conv with the pair loss oriented as intended,
    # L = log(1 + sum exp(f_v - f_u)) (u closer to scale 1 should score higher), then W sums > 0.
    w = w0.clone().requires_grad_(True)
    bias = torch.zeros((), device=feat41.device, requires_grad=True)
    opt = torch.optim.Adam([{"params": [w], "lr": p.rank_lr},
                            {"params": [bias], "lr": p.rank_lr * p.reg_bias_lr_mult}])
    with torch.enable_grad():
        for _ in range(p.rank_train_steps):
            f = (samples * w).sum(dim=(1, 2, 3)) + bias
            loss = torch.log1p(torch.exp(f[v] - f[u]).sum())
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach().sum(dim=(1, 2)) > 0


def balance_peak(feat: torch.Tensor, order: torch.Tensor, top: int) -> torch.Tensor:
    """max_yx of the sum of the top-`top` channels by score (spec 4.3)."""
    return feat.index_select(0, order[:top]).sum(dim=0).max()


def select_channels(feat41: torch.Tensor, feat43: torch.Tensor, ht: int, wt: int, p: TadtParams) -> Selection:
    """feat41, feat43: C x F x F first-frame search-window maps (unscaled)."""
    s = p.feature_scale
    t0 = time.perf_counter()
    scores, steps, peaks = regression_scores(torch.stack([feat41, feat43]) * s, ht, wt, p)
    t1 = time.perf_counter()
    s41, s43 = scores[0], scores[1]
    order41 = torch.argsort(s41, descending=True, stable=True)
    order43 = torch.argsort(s43, descending=True, stable=True)

    rank = ranking_mask(feat41 * s, ht, wt, p)
    t2 = time.perf_counter()
    m41 = (s41 > 0) & rank
    m41[order41[p.channels_conv41:]] = False
    m43 = s43 > 0
    m43[order43[p.channels_conv43:]] = False
    count41, count43 = int(m41.sum()), int(m43.sum())
    total = count41 + count43
    if total < p.min_channels_total:  # top up conv4_3 along its sorted list (spec 4.3)
        m43[order43[count43:count43 + p.min_channels_total - total]] = True
    if not bool(m43.any()):  # degenerate (all scores <= 0 and no budget): keep the best channel
        m43[order43[0]] = True

    b43 = balance_peak(feat43, order43, p.balance_top)
    b41 = balance_peak(feat41, order41, p.balance_top)
    w41 = float(b43 / b41) if float(b41) > 0 else 0.0
    return Selection(idx41=torch.nonzero(m41).flatten(), idx43=torch.nonzero(m43).flatten(), w41=w41,
                     reg_steps=(steps[0], steps[1]), reg_peak=(peaks[0], peaks[1]),
                     rank_kept=int(rank.sum()), seconds=(t1 - t0, t2 - t1))
