"""int8 per-frame backbone (``dtype="int8"``): PyTorch's own static post-training quantization.

conv1_1 .. relu4_3 (with the sequence's pruned conv4_3) are quantized with ``torch.ao.quantization``'s
FX graph mode and the x86 backend (oneDNN / FBGEMM kernels; VNNI where the CPU has it, AVX2 otherwise):
per-output-channel symmetric int8 weights, uint8 activations whose ranges are calibrated on the
sequence's own first-frame search window (the crop the selection was made from), conv + ReLU fused.
The first frame itself (features for the selection and the template) stays float32, as for bfloat16.

Built once per :meth:`TadtTracker.initialize` (after the selection, because the pruned conv4_3 is part
of it); the quantized model is a plain module on the CPU.  CPU only: there is no int8 path on CUDA.
"""
from __future__ import annotations

import copy
import warnings
from typing import Sequence, Tuple

import torch
import torch.nn as nn

from .backbone import VGG16Conv4


class _Trunk(nn.Module):
    """The normalised-input part of :class:`VGG16Conv4` as modules (the form FX quantization traces)."""

    def __init__(self, net: VGG16Conv4, w43: torch.Tensor, b43: torch.Tensor):
        super().__init__()
        self.body = copy.deepcopy(net.to_relu3_3).float()
        self.conv4_1, self.relu4_1 = copy.deepcopy(net.conv4_1).float(), nn.ReLU()
        self.conv4_2, self.relu4_2 = copy.deepcopy(net.conv4_2).float(), nn.ReLU()
        self.conv4_3 = nn.Conv2d(w43.shape[1], w43.shape[0], w43.shape[-1], padding=w43.shape[-1] // 2)
        with torch.no_grad():
            self.conv4_3.weight.copy_(w43.float())
            self.conv4_3.bias.copy_(b43.float())
        self.relu4_3 = nn.ReLU()
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        r41 = self.relu4_1(self.conv4_1(self.body(x)))
        r43 = self.relu4_3(self.conv4_3(self.relu4_2(self.conv4_2(r41))))
        return r41, r43


class QuantizedBackbone(nn.Module):
    """Same call as :class:`VGG16Conv4` (``net(rgb255, w43, b43) -> (relu4_1, relu4_3)``); the conv4_3
    weights it was built with are baked in, so the w43 / b43 arguments are ignored."""

    def __init__(self, qtrunk: nn.Module, mean: torch.Tensor, inv_std: torch.Tensor):
        super().__init__()
        self.qtrunk = qtrunk
        self.register_buffer("mean", mean.float().cpu())
        self.register_buffer("inv_std", inv_std.float().cpu())

    def forward(self, rgb255: torch.Tensor, conv43_weight=None, conv43_bias=None):
        return self.qtrunk((rgb255.float() - self.mean) * self.inv_std)


def quantization_engine() -> str:
    """The quantized engine used: "x86" (oneDNN + FBGEMM) where this torch build has it, else FBGEMM."""
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "onednn"):
        if name in engines:
            return name
    raise RuntimeError(f"this PyTorch build has no x86 quantized engine (it has {engines}); "
                       "dtype=int8 needs one; use dtype=float32")


def quantize_backbone(net: VGG16Conv4, w43: torch.Tensor, b43: torch.Tensor,
                      calibration: Sequence[torch.Tensor]) -> QuantizedBackbone:
    """int8 copy of ``net`` with the pruned conv4_3 (w43, b43), activation ranges calibrated on the
    ``calibration`` inputs (N x 3 x H x W RGB 0..255, float, on the CPU)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    engine = quantization_engine()
    torch.backends.quantized.engine = engine
    mean, inv_std = net.mean.float().cpu(), net.inv_std.float().cpu()
    inputs = [(x.float().cpu() - mean) * inv_std for x in calibration]
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notes, once per build
        trunk = _Trunk(net, w43.cpu(), b43.cpu()).eval()
        prepared = prepare_fx(trunk, get_default_qconfig_mapping(engine), example_inputs=(inputs[0].clone(),))
        for x in inputs:
            prepared(x.clone())
        qtrunk = convert_fx(prepared)
    return QuantizedBackbone(qtrunk, mean, inv_std).eval()
