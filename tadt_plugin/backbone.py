"""VGG16 up to relu4_3 with pool3 removed (stride 4), returning relu4_1 and relu4_3 (TADT_SPEC.md 1).

The network is built from torchvision's ``vgg16`` definition (so weights load by torchvision's own
``features.N`` keys) with pool3 dropped and pools in ceil mode (spec 1, A8).  It takes RGB float
tensors in 0..255 and normalises them itself (``input_norm``).

conv4_3 pruning (spec 7): only the selected conv4_3 output channels are ever used, so
:meth:`VGG16Conv4.forward` accepts a sliced conv4_3 weight/bias (see :func:`slice_conv43`) and then
computes only those channels.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

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

    def forward(self, rgb255: torch.Tensor, conv43_weight: Optional[torch.Tensor] = None,
                conv43_bias: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """rgb255: N x 3 x H x W float in 0..255.  Returns (relu4_1, relu4_3), each N x C x H/4 x W/4."""
        x = (rgb255 - self.mean) * self.inv_std
        x = x.to(self.conv4_1.weight.dtype)
        if self.conv4_1.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # the layout the weights were put in
        r41 = F.relu(self.conv4_1(self.to_relu3_3(x)))
        r42 = F.relu(self.conv4_2(r41))
        if conv43_weight is None:
            r43 = F.relu(self.conv4_3(r42))
        else:
            r43 = F.relu(F.conv2d(r42, conv43_weight, conv43_bias, padding=1))
        return r41, r43


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
    return (net.conv4_3.weight.index_select(0, idx).contiguous(),
            net.conv4_3.bias.index_select(0, idx).contiguous())
