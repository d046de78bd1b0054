"""int8 per-frame backbone (``dtype="int8"``): PyTorch's own static post-training quantization.

conv1_1 .. relu4_3 (with the sequence's pruned conv4_3) run as PyTorch's x86 quantized kernels
(``quantized::conv2d_relu``: FBGEMM / oneDNN, VNNI where the CPU has it, AVX2 otherwise), with exactly
the quantization that ``torch.ao.quantization``'s FX graph mode and the x86 default qconfig give
(the test compares them bit for bit): per-output-channel symmetric int8 weights
(``PerChannelMinMaxObserver``), uint8 activations whose ranges ``HistogramObserver(reduce_range=True)``
calibrates on the sequence's own first-frame search window (the crop the selection was made from),
conv + ReLU fused, max pooling on the quantized maps.  The first frame itself (features for the
selection and the template) stays float32, as for bfloat16.

conv1_1 stays float32 by default (``int8_float_convs=1``; 0 gives FX's model): quantizing the input image
to the 7 bits of ``reduce_range``, with its brightest and darkest pixels clipped by the histogram
search, was the largest error of the int8 features.  Measured on 6 dev sequences (Diving, DragonBaby,
Toy, book, Skiing, horse; 12 later frames each, window at the ground truth, the first frame's
calibration), relative L2 error of the selected features against float32: every conv int8 0.104,
conv1_1 float32 0.052, conv1_1 and conv1_2 0.045, the first five layers 0.035; conv1_1 is 0.3% of the
backbone's work, conv1_2 7%.

Why not FX itself: its prepare / convert re-trace, re-observe and re-pack all ten convolutions for
every sequence, though only conv4_3 (pruned per sequence) and the activation ranges change.  Here the
packed int8 weights of conv1_1 .. conv4_2 are made once per process (:func:`_packed_conv`, kept while the
weight tensor is unchanged: derived.DerivedCache, so replaced, cast or edited weights are packed again),
the observers read the maps of the first frame's own float32 forward (``VGG16Conv4.forward``'s
``taps``) instead of running a second one, and a sequence costs the observers plus its conv4_3.
``tadt bench --device cpu --frames 40`` on a 2-core AVX2-only AMD EPYC, 8 sequences: quantization
0.71 -> 0.26 s of the first frame (1.65 -> 1.19 s in all), the same per-frame features, FPS and AUC;
with the NHWC observer views and the bincount histograms (:func:`_histc`) 0.16 s (first frame 0.96 s).

Built once per :meth:`TadtTracker.initialize` (after the selection, because the pruned conv4_3 is part
of it); CPU only: there is no int8 path on CUDA.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbone import VGG16Conv4
from .derived import DerivedCache

# packed int8 copies of the backbone's conv1_1 .. conv4_2, kept while their weights are unchanged
_PACKS = DerivedCache()


def quantization_engine() -> str:
    """The quantized engine used: "x86" (oneDNN + FBGEMM) where this torch build has it, else FBGEMM."""
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "onednn"):
        if name in engines:
            return name
    raise RuntimeError(f"this PyTorch build has no x86 quantized engine (it has {engines}); "
                       "dtype=int8 needs one; use dtype=float32")


def _histc(x: torch.Tensor, bins: int, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``torch.histc(x, bins, lo, hi)`` for a float32 CPU ``x`` inside [lo, hi], lo < hi: the same bins
    by the same float32 arithmetic as histc's CPU kernel (bin = (x - lo) * bins / (hi - lo), truncated;
    ``hi`` in the last bin), counted with bincount, which runs on both cores where histc's loop ran
    slowly: 3.3 M-value map, 2 threads, AVX2 EPYC, 25 -> 8 ms."""
    pos = ((x - lo) * bins / (hi - lo)).to(torch.int32).clamp_(max=bins - 1)
    return torch.bincount(pos.flatten(), minlength=bins).to(torch.float32)


def _param_search(observer) -> Tuple[torch.Tensor, torch.Tensor]:
    """``HistogramObserver._non_linear_param_search`` step for step (PyTorch's greedy narrowing of the
    histogram's range, caffe2's NormMinimization), with the walk over the cumulative histogram on
    Python floats: PyTorch compares each 0-d float32 tensor ``cSum[l]`` with a Python scalar (cast to
    float32), thousands of times per observer, ~60 ms of a first frame on the AVX2 EPYC; the same
    comparisons on floats take a few ms.  The quantization error of each candidate range is PyTorch's
    own (``_compute_quantization_error``), so the range chosen is the same (tested)."""
    bins = observer.bins
    if observer.histogram.size()[0] != bins:
        raise AssertionError("bins mismatch")
    bin_width = (observer.max_val - observer.min_val) / bins
    total = torch.sum(observer.histogram).item()
    csum = torch.cumsum(observer.histogram, dim=0).tolist()   # float32 values, exact as Python floats
    stepsize = 1e-5
    alpha, beta = 0.0, 1.0
    start_bin, end_bin = 0, bins - 1
    norm_min = float("inf")
    while alpha < beta:
        next_alpha, next_beta = alpha + stepsize, beta - stepsize
        lo, hi = float(np.float32(next_alpha * total)), float(np.float32(next_beta * total))
        l, r = start_bin, end_bin
        while l < end_bin and csum[l] < lo:
            l += 1
        while r > start_bin and csum[r] > hi:
            r -= 1
        next_start_bin, next_end_bin = start_bin, end_bin
        if (l - start_bin) > (end_bin - r):
            next_start_bin, alpha = l, next_alpha
        else:
            next_end_bin, beta = r, next_beta
        if next_start_bin == start_bin and next_end_bin == end_bin:
            continue
        norm = observer._compute_quantization_error(next_start_bin, next_end_bin)
        if norm > norm_min:
            break
        norm_min = norm
        start_bin, end_bin = next_start_bin, next_end_bin
    return observer.min_val + bin_width * start_bin, observer.min_val + bin_width * (end_bin + 1)


def _observers():
    """The x86 default qconfig's observers (``get_default_qconfig_mapping("x86")``), without its
    deprecation notes: (activation observer, weight observer) classes ready to instantiate.  The
    activation observer counts a map's first histogram with :func:`_histc` (the same counts)."""
    from torch.ao.quantization.observer import HistogramObserver, PerChannelMinMaxObserver

    class FirstHistogramByBincount(HistogramObserver):
        def reset_histogram(self, x, min_val, max_val):
            if x.dtype != torch.float32 or x.device.type != "cpu" or not bool(min_val < max_val):
                return super().reset_histogram(x, min_val, max_val)
            for mine, value in ((self.min_val, min_val), (self.max_val, max_val)):
                mine.resize_(value.shape).copy_(value)
            self.histogram.detach_().resize_(self.bins).copy_(_histc(x, self.bins, min_val, max_val))

        def _non_linear_param_search(self):
            return _param_search(self)

    def activation():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "use quant_min and quant_max": reduce_range is the qconfig's
            return FirstHistogramByBincount(reduce_range=True)

    def weight():
        return PerChannelMinMaxObserver(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)

    return activation, weight


def _pack_conv(weight: torch.Tensor, bias: torch.Tensor):
    """A 3x3, padding-1 conv quantized as ``ConvReLU2d.from_float`` does it, packed for the engine."""
    w = weight.detach().float().cpu()
    obs = _observers()[1]()
    obs(w)
    scale, zero_point = obs.calculate_qparams()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch 2.14 notes that quantized tensors are deprecated, once
        qw = torch.quantize_per_channel(w, scale.to(torch.double), zero_point.to(torch.int64), 0, torch.qint8)
    return torch.ops.quantized.conv2d_prepack(qw, bias.detach().float().cpu(), [1, 1], [1, 1], [1, 1], 1)


def _packed_conv(weight: torch.Tensor, bias: torch.Tensor):
    """:func:`_pack_conv` of a backbone weight, made once per process while weight and bias are unchanged
    (derived.DerivedCache)."""
    return _PACKS.get(lambda: _pack_conv(weight, bias), weight, bias)


class QuantizedBackbone(nn.Module):
    """Same call as :class:`VGG16Conv4` (``net(rgb255, w43, b43) -> (relu4_1, relu4_3)``); the conv4_3
    weights it was built with are baked in, so the w43 / b43 arguments are ignored.

    ``head`` is the float32 start (``int8_float_convs``): ("conv", weight, bias) with its ReLU or
    ("pool", module), run before the map is quantized with ``input_qparams``; ``layers`` the quantized
    rest up to relu3_3, in order: ("conv", packed, scale, zero_point) or ("pool", module); ``conv4`` the
    same for conv4_1, conv4_2, conv4_3."""

    def __init__(self, mean: torch.Tensor, inv_std: torch.Tensor, input_qparams: Tuple[float, int],
                 layers: List[tuple], conv4: List[tuple], head: Sequence[tuple] = ()):
        super().__init__()
        self.register_buffer("mean", mean.float().cpu())
        self.register_buffer("inv_std", inv_std.float().cpu())
        self.input_qparams = input_qparams
        self.head, self.layers, self.conv4 = list(head), layers, conv4

    @property
    def quantized_convs(self) -> int:
        return sum(1 for layer in self.layers + self.conv4 if layer[0] == "conv")

    @staticmethod
    def _run(x: torch.Tensor, layer: tuple) -> torch.Tensor:
        if layer[0] == "pool":
            return layer[1](x)
        if not x.is_quantized:   # the float32 head
            return F.relu(F.conv2d(x, layer[1], layer[2], padding=1), inplace=True)
        _, packed, scale, zero_point = layer
        return torch.ops.quantized.conv2d_relu(x, packed, scale, zero_point)

    def forward(self, rgb255: torch.Tensor, conv43_weight=None, conv43_bias=None):
        x = (rgb255.float() - self.mean) * self.inv_std
        for layer in self.head:
            x = self._run(x, layer)
        x = torch.quantize_per_tensor(x, *self.input_qparams, torch.quint8)
        for layer in self.layers:
            x = self._run(x, layer)
        r41 = self._run(x, self.conv4[0])
        r43 = self._run(self._run(r41, self.conv4[1]), self.conv4[2])
        return r41.dequantize(), r43.dequantize()


def _trunk_layers(net: VGG16Conv4) -> List[nn.Module]:
    """conv1_1 .. conv4_2 and the pools between them, in order (the ReLUs go with their convolutions):
    the order every map list here follows."""
    return [m for m in net.to_relu3_3 if isinstance(m, (nn.Conv2d, nn.MaxPool2d))] + [net.conv4_1, net.conv4_2]


def observed_forward(net: VGG16Conv4, rgb255: torch.Tensor) -> List[torch.Tensor]:
    """The float32 maps int8 calibration observes (``VGG16Conv4.forward``'s taps up to relu4_2) of one
    input, from an eager float32 forward: what FX's calibration pass runs (conv4_3 is the caller's)."""
    x = (rgb255.float().cpu() - net.mean.float().cpu()) * net.inv_std.float().cpu()
    taps = [x]
    for m in _trunk_layers(net):
        if isinstance(m, nn.MaxPool2d):
            x = m(x)
        else:
            x = F.relu(F.conv2d(x, m.weight.float().cpu(), m.bias.float().cpu(), padding=1))
        taps.append(x)
    return taps


def _as_contiguous(x: torch.Tensor) -> torch.Tensor:
    """A per-tensor observer's input in memory order: the NHWC view of a channels-last map (no copy; the
    observers' aminmax and histc read channels-last NCHW maps ~1.5x slower, and order does not change a
    histogram), a copy only if the map is neither layout."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1)
    return x.contiguous()


@dataclass
class TrunkCalibration:
    """What a sequence's quantization needs before its conv4_3 is known (:func:`calibrate_trunk`)."""
    qparams: List[Tuple[float, int]]   # (scale, zero point) of the input, then conv1_1 .. conv4_2 + ReLU
    packed: List[object]               # conv1_1 .. conv4_2, packed int8
    relu4_2: List[torch.Tensor]        # the calibration maps conv4_3's output range is observed on


def calibrate_trunk(net: VGG16Conv4, calibration: Sequence[torch.Tensor] = (),
                    taps: Sequence[Sequence[torch.Tensor]] = ()) -> TrunkCalibration:
    """Activation ranges of the input and conv1_1 .. relu4_2, observed on the ``calibration`` inputs
    (N x 3 x H x W RGB 0..255, float, on the CPU) and/or on the ``taps`` of float32 forwards already run
    (``net(x, taps=[])``: the first frame's, so its maps are observed without a second forward), and
    the packed int8 convolutions: all of a sequence's quantization that does not depend on its
    selection.  Tried and dropped, both measured on 2 cores: running this in a background thread beside
    the first frame's regression (the regression then took as much longer as the observers took), and
    one thread per observer (no faster)."""
    torch.backends.quantized.engine = quantization_engine()
    new_observer = _observers()[0]
    layers = _trunk_layers(net)
    kinds = ["input"] + ["pool" if isinstance(m, nn.MaxPool2d) else "conv" for m in layers]
    with torch.inference_mode(False), torch.no_grad():
        all_taps = [list(t) for t in taps] + [observed_forward(net, x) for x in calibration]
        if not all_taps:
            raise ValueError("int8 calibration needs calibration inputs or taps")
        per_observer: List[List[torch.Tensor]] = [[] for kind in kinds if kind != "pool"]
        for maps in all_taps:   # observer k sees conv k's map, then its pool's, input after input (FX's order)
            if len(maps) not in (len(kinds), len(kinds) + 1):   # the net's taps end with the full conv4_3
                raise ValueError(f"expected {len(kinds)} calibration maps, got {len(maps)}")
            k = 0
            for kind, x in zip(kinds, maps):
                k += kind == "conv"
                per_observer[k].append(x.detach())
        qparams = []
        for maps in per_observer:
            observer = new_observer()
            for x in maps:
                observer(_as_contiguous(x.float()))
            scale, zero_point = observer.calculate_qparams()
            qparams.append((float(scale), int(zero_point)))
        return TrunkCalibration(qparams=qparams,
                                packed=[_packed_conv(m.weight, m.bias) for m in layers if isinstance(m, nn.Conv2d)],
                                relu4_2=[maps[len(kinds) - 1].detach().float() for maps in all_taps])


def quantize_backbone(net: VGG16Conv4, w43: torch.Tensor, b43: torch.Tensor,
                      calibration: Sequence[torch.Tensor] = (), taps: Sequence[Sequence[torch.Tensor]] = (),
                      trunk: Optional[TrunkCalibration] = None, float_convs: int = 0) -> QuantizedBackbone:
    """int8 copy of ``net`` with the pruned conv4_3 (w43, b43): the trunk's ranges and packed weights
    from ``trunk`` or else :func:`calibrate_trunk` (``calibration`` / ``taps``), conv4_3's range observed
    on its pruned output computed from the calibration's relu4_2 maps.  The first ``float_convs``
    convolutions (and the pools among them) stay float32 and their last output is quantized with that
    convolution's range (params.int8_float_convs says why); 0 gives FX's model, every convolution int8."""
    if trunk is None:
        trunk = calibrate_trunk(net, calibration, taps)
    w43f, b43f = w43.detach().float().cpu(), b43.detach().float().cpu()
    with torch.inference_mode(False), torch.no_grad():
        observer = _observers()[0]()
        for r42 in trunk.relu4_2:
            observer(_as_contiguous(F.relu(F.conv2d(r42, w43f, b43f, padding=1))))
        scale, zero_point = observer.calculate_qparams()
        qparams = trunk.qparams + [(float(scale), int(zero_point))]
        packed = trunk.packed + [_pack_conv(w43, b43)]   # conv4_3 is the sequence's own
    modules = _trunk_layers(net) + [None]   # None: conv4_3, the sequence's own
    convs = [i for i, m in enumerate(modules) if not isinstance(m, nn.MaxPool2d)]
    if not 0 <= float_convs <= len(convs) - 3:
        raise ValueError(f"float_convs={float_convs}: expected 0 .. {len(convs) - 3} (conv4_1 .. conv4_3 stay int8)")
    split = convs[float_convs]   # the first int8 convolution
    head = [("pool", m) if isinstance(m, nn.MaxPool2d) else ("conv", m.weight.detach().float().cpu(),
                                                             m.bias.detach().float().cpu())
            for m in modules[:split]]
    layers, k = [], 0
    for m in modules:
        if isinstance(m, nn.MaxPool2d):
            layers.append(("pool", m))
        else:
            layers.append(("conv", packed[k], *qparams[k + 1]))
            k += 1
    return QuantizedBackbone(net.mean, net.inv_std, qparams[float_convs], layers[split:-3], layers[-3:],
                             head).eval()
