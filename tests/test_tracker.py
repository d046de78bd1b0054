"""The core tracker: backbone shapes, pruning, selection, tracking accuracy, inputs.

Accuracy and channel selection are measured on real footage (``seq_root``, skipped when absent); the
input handling and the equivalence of code paths on generated sequences (``synthetic_root``), always."""
import numpy as np
import pytest
import torch

from tadt_plugin import metrics
from tadt_plugin.backbone import slice_conv43
from tadt_plugin.errors import BadBoxError, BadFrameError
from tadt_plugin.sequences import open_source, read_frame
from tadt_plugin.synthetic import SyntheticSequence


def frames_of(seq_root, name, n):
    s = open_source(seq_root / name)
    return [read_frame(p) for p in s.frames[:n]], s.ground_truth[:n]


def run(tracker, frames, gt):
    tracker.initialize(frames[0], gt[0])
    out = [list(gt[0])] + [tracker.track(f)[0] for f in frames[1:]]
    return np.asarray(out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_prepacked_backbone_gives_the_eager_outputs(tracker_factory, dtype):
    """prepack (fused conv+ReLU on oneDNN-packed weights) changes the speed, not the features: the same
    relu4_1 / relu4_3 as the eager layers, with the full and with a pruned conv4_3, on a window of the
    tracker's size and on the wider re-detection one."""
    t = tracker_factory(prepack_backbone=False)
    net = t._build_net(dtype)
    if not net.prepack(180):
        pytest.skip(f"oneDNN's fused convolution is not available for {dtype} in this torch build on this CPU")
    eager = t._build_net(dtype)
    assert not eager.fused
    idx = torch.arange(7, 307)
    w43, b43 = slice_conv43(net, idx, 32)
    assert w43.is_contiguous(memory_format=torch.channels_last)  # the net's layout: no reorder per call
    for side in (180, 324):
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(side)) * 255
        for args in ((), (w43, b43)):
            got, want = net(x, *args), eager(x, *args)
            for a, b in zip(got, want):
                assert a.dtype == dtype and torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-5)
    assert tracker_factory().net.fused and not t.net.fused   # on by default, off when asked
    net.to(torch.float64)   # new weights: the packed copies would be stale, so the eager path returns
    eager.to(torch.float64)
    assert not net.fused and torch.equal(net(x.double())[1], eager(x.double())[1])
    net.to(dtype), eager.to(dtype)
    assert net.prepack(180)
    with torch.no_grad():               # a weight edited in place is packed again, not served stale
        for m in (net, eager):
            m.conv4_2.weight.mul_(0.5)
    got, want = net(x.to(dtype)), eager(x.to(dtype))
    assert all(torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-5) for a, b in zip(got, want))


def test_backbone_shapes_and_pruning(tracker_factory):
    t = tracker_factory()
    x = torch.rand(1, 3, 180, 180) * 255
    f41, f43 = t.net(x)
    assert f41.shape == (1, 512, 45, 45) and f43.shape == (1, 512, 45, 45)  # stride 4: pool3 removed
    idx = torch.tensor([3, 17, 200, 511])
    w, b = slice_conv43(t.net, idx)
    _, f43p = t.net(x, w, b)
    assert torch.allclose(f43p, f43[:, idx], atol=1e-4, rtol=1e-4)
    w, b = slice_conv43(t.net, idx, multiple=32)  # padded with unselected channels, selected ones first
    _, f43p = t.net(x, w, b)
    assert f43p.shape[1] == 32 and torch.allclose(f43p[:, :4], f43[:, idx], atol=1e-4, rtol=1e-4)
    w, b = slice_conv43(t.net, torch.arange(500), multiple=32)  # never beyond the layer's 512 outputs
    assert w.shape[0] == 512 and torch.equal(w[:500], t.net.conv4_3.weight[:500])


def test_selection_on_a_real_first_frame(seq_root, tracker_factory):
    frames, gt = frames_of(seq_root, "Crossing", 1)
    t = tracker_factory(rank_mode="faithful")
    info = t.initialize(frames[0], gt[0])
    c41, c43 = info["channels_conv41"], info["channels_conv43"]
    assert 0 < c41 <= 80 and c43 <= 300 and 250 <= c41 + c43 <= 380
    assert min(info["reg_peak"]) > 0.5, "the regression should fit the Gaussian label (peak 1)"
    assert 0.35 * 512 < info["rank_kept"] < 0.65 * 512  # faithful ranking: a seeded ~half (spec 4.2)
    idx41, idx43 = t.state.idx41.clone(), t.state.idx43.clone()
    t.initialize(frames[0], gt[0])  # deterministic and re-initialisable
    assert torch.equal(idx41, t.state.idx41) and torch.equal(idx43, t.state.idx43)
    off = tracker_factory(rank_mode="off").initialize(frames[0], gt[0])
    assert off["rank_kept"] == 512 and off["channels_conv41"] >= c41


def test_tracks_a_real_sequence(crossing_float32):
    _, gt, res, _ = crossing_float32   # the factory's float32 tracker on Crossing's first 60 frames
    score = metrics.evaluate(res, gt)
    assert score["auc"] >= 0.6, score


def test_windowed_rescale_tracks_like_the_whole_frame_rescale(crossing_float32, tracker_factory):
    """Crossing is upscaled (s0 = 1.51): the default reads each window's pixels of the rescaled frame
    through the resize's weights, whole_frame_rescale=True rescales every frame whole and crops, as the
    authors; the boxes must agree (the windows differ at most by a rounding tie), and the fused,
    prepacked backbone must not change them either."""
    frames, gt, boxes, _ = crossing_float32
    ref = run(tracker_factory(whole_frame_rescale=True, prepack_backbone=False), frames[:25], gt[:25])
    got = boxes[:25]   # the factory's tracker: windowed rescale, fused and prepacked backbone
    assert np.abs(ref - got).max() < 0.5, np.abs(ref - got).max()


def test_tracks_the_generated_demo(tracker_factory):
    seq = SyntheticSequence(n_frames=40)
    res = run(tracker_factory(), list(seq), seq.ground_truth())
    assert metrics.evaluate(res, seq.ground_truth())["auc"] >= 0.5


def test_grey_rgba_and_16bit_frames_track_like_rgb(synthetic_root, tracker_factory):
    frames, gt = frames_of(synthetic_root, "SynGrey", 8)  # a grayscale JPEG sequence
    t = tracker_factory()
    ref = run(t, frames, gt)
    grey = run(t, [f[:, :, 0] for f in frames], gt)
    rgba = run(t, [np.dstack([f, np.full(f.shape[:2], 255, np.uint8)]) for f in frames], gt)
    deep = run(t, [f.astype(np.uint16) * 257 for f in frames], gt)
    assert np.allclose(ref, grey) and np.allclose(ref, rgba) and np.allclose(ref, deep)


def test_bad_input_is_named(tracker_factory, synthetic_root):
    frames, gt = frames_of(synthetic_root, "SynA", 2)
    t = tracker_factory()
    with pytest.raises(RuntimeError, match="before initialize"):
        t.track(frames[0])
    with pytest.raises(BadBoxError, match="non-positive"):
        t.initialize(frames[0], [10, 10, 0, 5])
    with pytest.raises(BadBoxError, match="outside"):
        t.initialize(frames[0], [5000, 10, 20, 20])
    t.initialize(frames[0], gt[0])
    with pytest.raises(BadFrameError, match="size changed"):
        t.track(frames[1][:100])


def test_lost_target_stays_sane(tracker_factory):
    """Noise frames after the init: the box must stay finite, bounded and on the image."""
    seq = SyntheticSequence(n_frames=1)
    t = tracker_factory()
    t.initialize(seq.frame(0), seq.box(0))
    rng = np.random.default_rng(1)
    for _ in range(30):
        box, conf = t.track(rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8))
        assert np.all(np.isfinite(box)) and 0 <= conf <= 1
    x, y, w, h = box
    assert 1 <= w <= 320 * 1.01 and 1 <= h <= 320 * 1.01
    assert -w <= x <= 320 and -h <= y <= 240


@pytest.mark.parametrize("shape", [(40, 45, 45, 13, 11), (7, 30, 28, 5, 9), (4, 9, 9, 9, 9), (64, 23, 23, 1, 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_channels_first_contraction_equals_pyramid_then_conv2d(shape, channels_last):
    """The per-frame path builds the pyramid on the per-offset products (matching.py): same responses
    as the spec's order, pyramid of the features then correlation."""
    from tadt_plugin.matching import correlate, pyramid, pyramid_correlate
    c, fh, fw, ht, wt = shape
    g = torch.Generator().manual_seed(2)
    x, tmpl = torch.randn(1, c, fh, fw, generator=g), torch.randn(c, ht, wt, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ref = correlate(pyramid(x, 2), tmpl)
    out = pyramid_correlate(x, tmpl, 2, "gemm")
    assert out.shape == ref.shape and out.shape[0] == 3
    assert torch.allclose(out, ref, atol=1e-4 * ref.abs().max().item())
    # the three levels really differ, so the check above compares scale by scale
    assert not torch.allclose(out[0], out[1], atol=1e-2 * ref.abs().max().item())


def test_fast_path_tracks_like_the_original_path(synthetic_root, tracker_factory):
    """Padded pruned conv4_3 + GEMM correlation (default) against full conv4_3 + conv2d correlation."""
    frames, gt = frames_of(synthetic_root, "SynB", 12)
    a = run(tracker_factory(correlation="conv", prune_conv43=False), frames, gt)
    b = run(tracker_factory(correlation="gemm"), frames, gt)
    assert np.abs(a - b).max() < 0.5, np.abs(a - b).max()


def test_fft_regression_correlation_equals_conv2d():
    """The regression's FFT correlation and filter gradient against conv2d and its weight gradient."""
    from tadt_plugin.selection import _ConvCorrelator, _FFTCorrelator
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 16, 21, 21, generator=g)
    w, grad_out = torch.randn(2, 16, 9, 7, generator=g), torch.randn(2, 21, 21, generator=g)
    a, b = _FFTCorrelator(x, 9, 7), _ConvCorrelator(x, 9, 7)
    fa, fb = a.forward(w), b.forward(w)
    ga, gb = a.filter_grad(grad_out), b.filter_grad(grad_out)
    assert fa.shape == fb.shape == (2, 21, 21) and ga.shape == gb.shape == (2, 16, 9, 7)
    assert torch.allclose(fa, fb, atol=1e-4 * fb.abs().max().item())
    assert torch.allclose(ga, gb, atol=1e-4 * gb.abs().max().item())


def test_scale_choices_reach_the_box(synthetic_root, tracker_factory):
    """The size changes frame to frame by exactly one of the pyramid's factors (3 or, with scale_count=5,
    5 of them), and by a factor between the neighbours with scale_interp (matching.interpolate_scale)."""
    frames, gt = frames_of(synthetic_root, "SynB", 10)

    def ratios(t):
        b = run(t, frames, gt)
        return b[2:, 2] / b[1:-1, 2]   # from frame 2 on: frame 1's size is the rescaled, rounded box

    def on_grid(r, factors):
        return all(min(abs(x - f) for f in factors) < 1e-6 for x in r)

    f3, f5 = (45 / 47, 1.0, 45 / 43), (45 / 49, 45 / 47, 1.0, 45 / 43, 45 / 41)
    assert on_grid(ratios(tracker_factory()), f3)
    t5 = tracker_factory(scale_count=5, scale_penalties=(0.985, 0.988, 1.0, 1.005, 1.006))
    assert on_grid(ratios(t5), f5)
    assert t5.factors.tolist() == pytest.approx(f5)
    r = ratios(tracker_factory(scale_interp=True))
    assert not on_grid(r, f3), r
    assert all(45 / 47 - 1e-6 <= x <= 45 / 43 + 1e-6 for x in r), r

