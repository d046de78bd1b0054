"""VGG16 up to relu4_3 with pool3 removed (stride 4), returning relu4_1 and relu4_3 (TADT_SPEC.md 1).

The network is built from torchvision's ``vgg16`` definition (so weights load by torchvision's own
``features.N`` keys) with pool3 dropped and pools in ceil mode (spec 1, A8).  It takes RGB float
tensors in 0..255 and normalises them itself (``input_norm``).

conv4_3 pruning (spec 7): only the selected conv4_3 output channels are ever used, so
:meth:`VGG16Conv4.forward` accepts a sliced conv4_3 weight/bias (see :func:`slice_conv43`) and then
computes only those channels.

CPU speed (:meth:`VGG16Conv4.prepack`): on a CPU with oneDNN the convolutions can run as oneDNN's
convolution with the ReLU fused in (``mkldnn::_convolution_pointwise``, the op torch.compile's CPU
backend emits) on weights reordered once into oneDNN's blocked layout, instead of eager conv2d, which
reorders every weight on every call, then a separate ReLU pass.  The outputs are the same: bitwise on
the windows measured (76 to 324 px, float32 and bfloat16); on tiny inputs oneDNN may pick another
float32 algorithm for the eager path, ~1e-5 apart.  Checked when packing (a mismatch beyond float
rounding keeps the eager path); VGG16 to conv4_3 on a 180 x 180 window,
2 threads, AVX-512 + AMX: bfloat16 24.4 -> 19.5 ms, float32 143 -> 135 ms.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from .derived import DerivedCache

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 4


class VGG16Conv4(nn.Module):
    def __init__(self, state_dict: Optional[Dict[str, torch.Tensor]] = None, input_norm: str = "torchvision"):
        super().__init__()
        feats = torchvision.models.vgg16(weights=None).features
        if state_dict is not None:
            own = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
            missing = [k for k in feats[:22].state_dict() if k not in own]
            if missing:
                raise KeyError(f"VGG16 weights lack {missing}")
            feats.load_state_dict({k: own[k] for k in feats.state_dict() if k in own}, strict=False)
        for m in feats:
            if isinstance(m, nn.MaxPool2d):
                m.ceil_mode = True
        # conv1_1 .. relu3_3 (pool3 at index 16 is dropped), then conv4_1 .. relu4_2; conv4_3 apart.
        self.to_relu3_3 = nn.Sequential(*[feats[i] for i in range(16)])
        self.conv4_1, self.conv4_2, self.conv4_3 = feats[17], feats[19], feats[21]
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        if input_norm == "torchvision":
            mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0
        elif input_norm == "minus128":  # the authors' MatConvNet convention (spec 1)
            mean, std = torch.full((1, 3, 1, 1), 128.0), torch.ones(1, 3, 1, 1)
        else:
            raise ValueError(f"unknown input_norm {input_norm!r}")
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", 1.0 / std)
        # the oneDNN-packed weights the fused path runs on (prepack), each kept while its weight is unchanged
        self._packs = DerivedCache()
        self._fused = False

    def _apply(self, fn, *args, **kwargs):
        self._fused = False   # .to(), .float(), ... replace the weights: the fused path was checked for the old
        return super()._apply(fn, *args, **kwargs)

    @property
    def fused(self) -> bool:
        """Whether the forward runs the fused conv+ReLU on packed weights (:meth:`prepack`)."""
        return self._fused

    # ------------------------------------------------------------------------------------------
    def prepack(self, side: int = 180) -> bool:
        """Switch the CPU forward to fused conv+ReLU on prepacked weights (module docstring), for
        windows of about ``side`` px (the layout hint; other sizes work too).  Needs oneDNN, a CPU,
        channels-last weights; returns whether the fused path is on."""
        self._fused = False
        if not _fused_available(self.conv4_1.weight):
            return False
        probe = torch.rand(1, 3, 36, 36, device=self.mean.device) * 255
        with torch.inference_mode():
            eager = self(probe)
            try:
                for conv, s in self._convs_with_sides(side):
                    self._packs.discard(conv.weight)
                    self._packs.get(lambda: _pack(conv.weight, s), conv.weight)
                self._fused = True
                fused = self(probe)
            except RuntimeError:
                self._fused = False
                return False
        self._fused = all(torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-3 * float(a.abs().max()))
                          for a, b in zip(eager, fused))
        return self._fused

    def _convs_with_sides(self, side: int):
        s = side
        for m in self.to_relu3_3:
            if isinstance(m, nn.Conv2d):
                yield m, s
            elif isinstance(m, nn.MaxPool2d):
                s = -(-s // 2)
        for conv in (self.conv4_1, self.conv4_2, self.conv4_3):
            yield conv, s

    def _conv_relu(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        if not self._fused:   # eager (also CUDA); in place, as torchvision's ReLU modules: a fresh output
            return F.relu(F.conv2d(x, weight, bias, padding=1), inplace=True)
        # the net's weights were packed by prepack; a conv4_3 weight the caller passes (the sequence's
        # pruned one) is packed on first use and dropped once the caller lets it go
        packed = self._packs.get(lambda: _pack(weight, x.shape[-1]), weight)
        return torch.ops.mkldnn._convolution_pointwise(x, packed, bias, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")

    def forward(self, rgb255: torch.Tensor, conv43_weight: Optional[torch.Tensor] = None,
                conv43_bias: Optional[torch.Tensor] = None,
                taps: Optional[List[torch.Tensor]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """rgb255: N x 3 x H x W float in 0..255.  Returns (relu4_1, relu4_3), each N x C x H/4 x W/4.
        With a ``taps`` list, every intermediate map is appended to it in order: the normalised input,
        then each conv + ReLU output and each pool output (what int8 calibration observes)."""
        x = (rgb255 - self.mean) * self.inv_std
        x = x.to(self.conv4_1.weight.dtype)
        if self.conv4_1.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # the layout the weights were put in
        tap = taps.append if taps is not None else (lambda t: None)
        tap(x)
        for m in self.to_relu3_3:   # each conv with the ReLU after it (fused when packed), the pools
            if isinstance(m, nn.Conv2d):
                x = self._conv_relu(x, m.weight, m.bias)
                tap(x)
            elif isinstance(m, nn.MaxPool2d):
                x = m(x)
                tap(x)
        r41 = self._conv_relu(x, self.conv4_1.weight, self.conv4_1.bias)
        r42 = self._conv_relu(r41, self.conv4_2.weight, self.conv4_2.bias)
        if conv43_weight is None:
            conv43_weight, conv43_bias = self.conv4_3.weight, self.conv4_3.bias
        r43 = self._conv_relu(r42, conv43_weight, conv43_bias)
        for t in (r41, r42, r43):
            tap(t)
        return r41, r43


def _fused_available(weight: torch.Tensor) -> bool:
    return (weight.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and weight.is_contiguous(memory_format=torch.channels_last)
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight"))


def _pack(weight: torch.Tensor, side: int) -> torch.Tensor:
    """A 3x3, stride-1, padding-1 conv weight reordered into oneDNN's layout for a side x side input."""
    return torch._C._nn.mkldnn_reorder_conv2d_weight(weight.to_mkldnn(), [1, 1], [1, 1], [1, 1], 1,
                                                     [1, weight.shape[1], side, side])


def slice_conv43(net: VGG16Conv4, channels: torch.Tensor, multiple: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
    """conv4_3 weight and bias restricted to the given output channels (pruning, spec 7), in that order.

    With ``multiple`` > 1 the list is padded with unselected channels up to a multiple of it, and the
    caller keeps the first ``len(channels)`` outputs: oneDNN's float32 convolution runs much faster on
    output-channel counts that fill its 16-wide blocks in pairs (this 2-core AVX-512 CPU, one thread,
    45 x 45 input: 261 channels 60 ms, 288 channels 50 ms, 300 channels 70 ms, 320 channels 53 ms)."""
    idx = channels.to(net.conv4_3.weight.device)
    n_out = net.conv4_3.weight.shape[0]
    if multiple > 1 and len(idx) % multiple:
        target = min(-(-len(idx) // multiple) * multiple, n_out)
        unused = torch.ones(n_out, dtype=torch.bool, device=idx.device)
        unused[idx] = False
        idx = torch.cat([idx, unused.nonzero()[:, 0][: target - len(idx)]])
    # in the layout of the net's own weights: a channels-first weight on channels-last maps makes oneDNN
    # reorder it on every call (bfloat16, 2 cores: conv4_3 6.3 -> 4.3 ms)
    fmt = (torch.channels_last if net.conv4_3.weight.is_contiguous(memory_format=torch.channels_last)
           else torch.contiguous_format)
    return (net.conv4_3.weight.index_select(0, idx).contiguous(memory_format=fmt),
            net.conv4_3.bias.index_select(0, idx).contiguous())
