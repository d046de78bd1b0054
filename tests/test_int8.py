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
    assert q.quantized_convs == 10   # conv1_1 .. conv4_3, each fused with its ReLU


def test_a_float32_conv1_1_halves_the_int8_error(seq_root, tracker_factory):
    """int8_float_convs=1 (the default): with conv1_1 in float32 the image is no longer quantized to 7
    bits, and on later frames of a real sequence (calibrated on its first) the int8 features are much
    closer to float32 than with every convolution int8; 8 would quantize conv4_1 and is refused."""
    assert TadtParams().int8_float_convs == 1
    s = open_source(seq_root / "Skiing")
    net = tracker_factory(dtype="float32").net
    w43, b43 = slice_conv43(net, torch.arange(1, 512, 2))
    calibration = [_window(read_frame(s.frames[0]))]
    every, head = (quantize_backbone(net, w43, b43, calibration, float_convs=k) for k in (0, 1))
    assert not every.head and [layer[0] for layer in head.head] == ["conv"]
    assert head.quantized_convs == 9 and head.input_qparams == every.layers[0][2:]
    x = torch.cat([_window(read_frame(s.frames[i])) for i in (20, 40, 60)])
    with torch.inference_mode():
        ref = torch.cat([f.flatten(1) for f in net(x, w43, b43)], 1)
        err = [float((torch.cat([f.flatten(1) for f in q(x)], 1) - ref).norm() / ref.norm()) for q in (every, head)]
    assert err[1] < 0.7 * err[0], err
    with pytest.raises(ValueError, match="float_convs"):
        quantize_backbone(net, w43, b43, calibration, float_convs=8)
    with pytest.raises(ValueError, match="int8_float_convs"):
        TadtParams(int8_float_convs=-1)


def _fx_quantized(net, w43, b43, calibration):
    """The reference: the same trunk quantized by torch.ao.quantization's FX graph mode, x86 qconfig."""
    import copy
    import warnings
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    from tadt_plugin.quantized import quantization_engine

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = copy.deepcopy(net.to_relu3_3)
            self.conv4_1, self.relu4_1 = copy.deepcopy(net.conv4_1), torch.nn.ReLU()
            self.conv4_2, self.relu4_2 = copy.deepcopy(net.conv4_2), torch.nn.ReLU()
            self.conv4_3, self.relu4_3 = torch.nn.Conv2d(w43.shape[1], w43.shape[0], 3, padding=1), torch.nn.ReLU()
            with torch.no_grad():
                self.conv4_3.weight.copy_(w43)
                self.conv4_3.bias.copy_(b43)

        def forward(self, x):
            r41 = self.relu4_1(self.conv4_1(self.body(x)))
            return r41, self.relu4_3(self.conv4_3(self.relu4_2(self.conv4_2(r41))))

    engine = quantization_engine()
    torch.backends.quantized.engine = engine
    inputs = [(x - net.mean) * net.inv_std for x in calibration]
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(Trunk().eval(), get_default_qconfig_mapping(engine), example_inputs=(inputs[0],))
        for x in inputs:
            prepared(x.clone())
        q = convert_fx(prepared)
    return lambda rgb: q((rgb - net.mean) * net.inv_std)


def test_quantized_backbone_is_what_fx_quantization_gives(seq_root, tracker_factory):
    """The hand-assembled int8 backbone (cached packed weights, no FX tracing per sequence) is PyTorch's
    FX post-training quantization with the x86 qconfig, bit for bit: same observers (a pool sharing its
    input's), same weight quantization, same kernels; calibrated on two real frames, run on a third at
    another window size.  Built twice, the second time from the packed-weight cache, and again after a
    weight is edited in place and after the net is cast to bfloat16 and back (which keeps the parameter
    objects)."""
    s = open_source(seq_root / "Toy")
    net = tracker_factory(dtype="float32").net
    w43, b43 = slice_conv43(net, torch.arange(5, 512, 2), 32)
    calibration = [_window(read_frame(s.frames[i])) for i in (0, 10)]
    x = torch.cat([_window(read_frame(s.frames[20]), 164), _window(read_frame(s.frames[21]), 164)])
    want = _fx_quantized(net, w43, b43, calibration)(x)
    for _ in range(2):
        got = quantize_backbone(net, w43, b43, calibration)(x)
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    with torch.no_grad():   # weights edited in place: the cached packed copy must not be reused
        net.conv4_2.weight.mul_(0.5)
    want = _fx_quantized(net, w43, b43, calibration)(x)
    got = quantize_backbone(net, w43, b43, calibration)(x)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    net.to(torch.bfloat16).float()   # same Parameter objects and versions, new (rounded) storage
    want = _fx_quantized(net, w43, b43, calibration)(x)
    got = quantize_backbone(net, w43, b43, calibration)(x)
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_first_frame_maps_calibrate_like_a_separate_forward(seq_root, tracker_factory):
    """The tracker calibrates int8 on the maps its first-frame forward already computed (the net's taps:
    channels-last, fused convolutions where oneDNN has them): the same quantization parameters as the
    separate, eager observed forward of that window."""
    net = tracker_factory(dtype="int8").net
    w43, b43 = slice_conv43(net, torch.arange(0, 512, 3), 32)
    window = _window(read_frame(open_source(seq_root / "Crossing").frames[0]))
    taps = []
    with torch.inference_mode():
        net(window, taps=taps)
    assert len(taps) == 13   # the input, 10 conv + ReLU maps, pool1 and pool2 (no pool3)
    by_taps = quantize_backbone(net, w43, b43, taps=[taps])
    by_forward = quantize_backbone(net, w43, b43, [window])
    assert by_taps.input_qparams == by_forward.input_qparams
    assert [layer[2:] for layer in by_taps.layers + by_taps.conv4 if layer[0] == "conv"] == \
        [layer[2:] for layer in by_forward.layers + by_forward.conv4 if layer[0] == "conv"]


def test_int8_tracker_tracks_a_real_sequence_like_float32(crossing_float32, tracker_factory):
    """Same channels as float32 (the first frame stays float32) and, on 40 real frames, boxes that follow
    float32's (mean IoU >= 0.8) and an AUC within 0.05 of it."""
    frames, gt, bf, (idx41, idx43) = crossing_float32   # float32's run
    frames, gt, bf = frames[:40], gt[:40], bf[:40]
    i8 = tracker_factory(dtype="int8")
    assert i8.int8 and i8.dtype == torch.float32
    i8.initialize(frames[0], gt[0])
    assert i8.state.qnet is not None and i8.state.timings["init_quantize"] > 0
    assert torch.equal(i8.state.idx41, idx41) and torch.equal(i8.state.idx43, idx43)
    bi = np.asarray([gt[0]] + [i8.track(f)[0] for f in frames[1:]])
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


def test_first_histogram_by_bincount_is_histc(seq_root, tracker_factory):
    """The activation observer counts a map's first histogram with bincount (quantized._histc): the same
    bins as torch.histc on the real maps of a first frame (ReLU zeros, the maximum in the last bin, values
    on bin edges), hence the same quantization parameters as PyTorch's own HistogramObserver."""
    from torch.ao.quantization.observer import HistogramObserver
    from tadt_plugin.quantized import _histc, _observers, observed_forward

    net = tracker_factory(dtype="int8").net
    maps = observed_forward(net, _window(read_frame(open_source(seq_root / "Toy").frames[0])))
    lo, hi = torch.tensor(0.0), torch.tensor(1.0)
    edges = torch.linspace(0, 1, 2049)   # every bin edge, both ends included
    assert torch.equal(_histc(edges, 2048, lo, hi), torch.histc(edges, 2048, 0.0, 1.0))
    for x in maps[1:]:
        mn, mx = torch.aminmax(x)
        assert torch.equal(_histc(x, 2048, mn, mx), torch.histc(x, 2048, mn, mx))
    for x in (maps[2], maps[7]):
        ours, theirs = _observers()[0](), HistogramObserver(reduce_range=True)
        for m in (x, torch.nn.functional.max_pool2d(x, 2)):   # the second map goes through the update path
            ours(m)
            theirs(m)
        assert torch.equal(ours.histogram, theirs.histogram)
        assert [float(v) for v in ours.calculate_qparams()] == [float(v) for v in theirs.calculate_qparams()]


def _assert_pytorchs_range(values) -> int:
    """Each of ``values`` through a fresh activation observer: quantized._param_search must narrow to
    exactly PyTorch's HistogramObserver._non_linear_param_search range.  Returns how many were narrowed."""
    from torch.ao.quantization.observer import HistogramObserver
    from tadt_plugin.quantized import _observers, _param_search

    narrowed = 0
    for x in values:
        observer = _observers()[0]()
        observer(x.contiguous())
        ours, theirs = _param_search(observer), HistogramObserver._non_linear_param_search(observer)
        assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
        narrowed += bool(ours[1] < observer.max_val)
    return narrowed


def test_param_search_picks_pytorchs_range_on_generated_values():
    """quantized._param_search walks the cumulative histogram on Python floats instead of 0-d tensors:
    on long-tailed, uniform and outlier-spiked values it picks PyTorch's range, and cuts the tails off."""
    gen = torch.Generator().manual_seed(0)
    values = [torch.randn(100_000, generator=gen).abs() ** 3, torch.rand(50_000, generator=gen),
              torch.cat([torch.randn(100_000, generator=gen).exp(), torch.tensor([1e3])]),
              torch.relu(torch.randn(64, 90, 90, generator=gen)) ** 2]
    assert _assert_pytorchs_range(values) >= 3   # the search did narrow, not just return the full range


def test_param_search_picks_pytorchs_range_on_a_real_first_frame(seq_root, tracker_factory):
    """The same on every map the int8 calibration observes on a real first frame (ReLU maps, mostly zeros)."""
    from tadt_plugin.quantized import observed_forward

    net = tracker_factory(dtype="int8").net
    maps = observed_forward(net, _window(read_frame(open_source(seq_root / "Skiing").frames[0])))
    assert _assert_pytorchs_range(maps) >= 3
