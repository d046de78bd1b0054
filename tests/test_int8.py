"""dtype="int8": the per-frame backbone quantized with PyTorch's x86 static quantization (quantized.py)."""
import numpy as np
import pytest
import torch

from tadt_plugin import metrics
from tadt_plugin.backbone import slice_conv43
from tadt_plugin.params import TadtParams
from tadt_plugin.quantized import quantize_backbone
from tadt_plugin.sequences import open_source, read_frame

pytestmark = pytest.mark.skipif(
    not any(e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm", "onednn")),
    reason="this PyTorch build has no x86 quantized engine")


def _window(frame: np.ndarray, side: int = 180) -> torch.Tensor:
    import cv2
    return torch.from_numpy(cv2.resize(frame, (side, side))).permute(2, 0, 1)[None].float()


def test_quantized_backbone_keeps_the_float_features(seq_root, tracker_factory):
    """Calibrated on frame 1, run on frame 30 of a real sequence: int8 features of both layers, pruned
    conv4_3 included, stay within 15% (relative L2) of float32 and keep the same strongest channels."""
    s = open_source(seq_root / "Toy")
    net = tracker_factory(dtype="float32").net
    idx = torch.arange(0, 512, 3)
    w43, b43 = slice_conv43(net, idx)
    q = quantize_backbone(net, w43, b43, [_window(read_frame(s.frames[0]))])
    x = _window(read_frame(s.frames[29]))
    with torch.inference_mode():
        f41, f43 = net(x, w43, b43)
        q41, q43 = q(x)
    assert q41.shape == f41.shape and q43.shape == f43.shape == (1, len(idx), 45, 45)
    for a, b in ((f41, q41), (f43, q43)):
        assert float((a - b).norm() / a.norm()) < 0.15
        top = set(a.mean((2, 3))[0].topk(20).indices.tolist())
        assert len(top & set(b.mean((2, 3))[0].topk(20).indices.tolist())) >= 16
    quantized_convs = [m for m in q.modules() if type(m).__module__.startswith("torch.ao.nn.intrinsic.quantized")]
    assert len(quantized_convs) == 10   # conv1_1 .. conv4_3, each fused with its ReLU


def test_int8_tracker_tracks_a_real_sequence_like_float32(seq_root, tracker_factory):
    """Same channels as float32 (the first frame stays float32) and, on 40 real frames, boxes that follow
    float32's (mean IoU >= 0.8) and an AUC within 0.05 of it."""
    s = open_source(seq_root / "Crossing")
    frames, gt = [read_frame(p) for p in s.frames[:40]], s.ground_truth[:40]
    i8, fp = tracker_factory(dtype="int8"), tracker_factory(dtype="float32")
    assert i8.int8 and i8.dtype == torch.float32
    i8.initialize(frames[0], gt[0])
    fp.initialize(frames[0], gt[0])
    assert i8.state.qnet is not None and i8.state.timings["init_quantize"] > 0
    assert torch.equal(i8.state.idx41, fp.state.idx41) and torch.equal(i8.state.idx43, fp.state.idx43)
    bi = np.asarray([gt[0]] + [i8.track(f)[0] for f in frames[1:]])
    bf = np.asarray([gt[0]] + [fp.track(f)[0] for f in frames[1:]])
    assert float(np.mean(metrics.iou(bi, bf))) >= 0.8
    assert metrics.evaluate(bi, gt)["auc"] >= metrics.evaluate(bf, gt)["auc"] - 0.05


def test_int8_is_cpu_only():
    from tadt_plugin.devices import check_int8
    with pytest.raises(ValueError, match="int8 is for the CPU"):
        check_int8(torch.device("cuda"))
    assert TadtParams(dtype="int8").dtype == "int8"
    with pytest.raises(ValueError, match="dtype"):
        TadtParams(dtype="int4")


def test_auto_takes_int8_on_an_x86_cpu_without_native_bfloat16(monkeypatch):
    from tadt_plugin import devices
    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")
    name, reason = devices.resolve_dtype("auto", torch.device("cpu"))
    assert name == "int8" and "without native bfloat16" in reason
    monkeypatch.setattr(devices.platform, "machine", lambda: "riscv64")   # no x86 int8 kernels there
    assert devices.resolve_dtype("auto", torch.device("cpu"))[0] == "float32"
    monkeypatch.setattr(devices, "cpu_bf16_native", lambda: True)
    assert devices.resolve_dtype("auto", torch.device("cpu"))[0] == "bfloat16"
