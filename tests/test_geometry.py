"""Spec section 11 sanity values and the geometry conventions."""
import math

import pytest
import torch

from tadt_plugin import geometry as geo
from tadt_plugin.errors import BadBoxError
from tadt_plugin.matching import pyramid, scale_factors
from tadt_plugin.selection import adjacent_pairs, gaussian_label, kernel_size, ranking_sizes


def setup(box_w, box_h, img_w=640, img_h=480):
    s0 = geo.rescale_factor((box_w, box_h))
    H, W = geo.rescaled_size(img_h, img_w, s0)
    w, h = geo.matlab_round(box_w * s0), geo.matlab_round(box_h * s0)
    side = geo.window_side(H, W)
    feat = side // 4
    return s0, (H, W), (w, h), side, feat


def test_spec_example_50x50():
    s0, hw, (w, h), side, feat = setup(50, 50)
    assert s0 == 1.0 and side == 180 and feat == 45
    ht, wt = geo.template_size(h, w, feat, side)
    assert (ht, wt) == (13, 13)
    assert kernel_size(ht, wt) == (15, 15)
    sizes = ranking_sizes(feat, 15, 15)
    assert sizes == list(range(15, 76, 2)) and len(sizes) == 31
    pairs = adjacent_pairs(len(sizes))
    assert len(pairs) == 30 and sizes[15] == 45
    assert all(abs(a - 15) < abs(b - 15) for a, b in pairs)  # u is always closer to scale 1
    x = torch.rand(1, 8, 45, 45)
    assert pyramid(x).shape == (3, 8, 45, 45)
    lab = gaussian_label(45, ht, wt)
    assert lab.shape == (45, 45) and lab[22, 22] == 1.0 and lab.argmax() == 22 * 45 + 22
    # sigma = 0.1 * 13 = 1.3: exp(-0.2 * 1^2 / 1.3^2) one cell off centre
    assert float(lab[22, 23]) == pytest.approx(math.exp(-0.2 / 1.3 ** 2), rel=1e-6)


def test_spec_example_100x40():
    s0, hw, (w, h), side, feat = setup(100, 40)
    assert math.sqrt(100 * 40) == pytest.approx(63.25, abs=0.01)
    assert s0 == pytest.approx(0.9328, abs=1e-4)
    assert (w, h) == (93, 37)
    ht, wt = geo.template_size(h, w, feat, side)
    assert (ht, wt) == (9, 23)
    kh, kw = kernel_size(ht, wt)
    assert (kh, kw) == (11, 25)
    sizes = ranking_sizes(feat, kh, kw)
    assert sizes[0] == 25 and sizes[-1] == 65 and len(sizes) == 21


def test_spec_example_small_image():
    s0, (H, W), _, side, feat = setup(30, 30, img_w=100, img_h=100)
    assert s0 == pytest.approx(44 / 30)
    assert (H, W) == (147, 147)
    assert side == 148 and feat == 37
    assert scale_factors(37, mode="faithful") == (45 / 47, 1.0, 45 / 43)
    assert scale_factors(37, mode="adaptive") == pytest.approx((37 / 39, 1.0, 37 / 35))


def test_window_side_is_8k_plus_4():
    for sz in range(20, 400):
        s = geo.window_side(1000, 1000, sz)
        assert (s - 4) % 8 == 0 and sz < s <= sz + 8


def test_template_is_clamped_for_elongated_targets():
    ht, wt = geo.template_size(400, 10, 45, 180)
    assert ht == 43 and wt == 3


def test_crop_replicates_border_and_centres():
    frame = torch.arange(100, dtype=torch.float32).view(1, 10, 10).repeat(3, 1, 1)
    patch = geo.crop_and_resize(frame, cx=1.0, cy=1.0, n=4, out=4)[0, 0]
    # 1-based rows floor(1) + (1..4) - 2 = 0..3, i.e. 0-based -1..2, clamped to 0,0,1,2
    assert patch[0, 0] == 0 and patch[1, 1] == 0 and patch[3, 3] == 22


@pytest.mark.parametrize("s0", [1.0, 1.5091875, 2.0, 0.9, 0.37])
def test_window_sampler_is_the_whole_frame_rescale_then_crop(s0):
    """WindowSampler computes only the window's pixels of the rescaled frame; it must agree with
    rescaling the whole frame and cropping (rescale_frame + crop_and_resize) up to the uint8 rounding of
    a tie: at most one grey level, on a handful of pixels, and exactly on the whole-frame reference."""
    rng = torch.Generator().manual_seed(5)
    # a smooth picture with edges, like a photograph, not noise (noise would make ties likelier)
    yy, xx = torch.meshgrid(torch.arange(240.0), torch.arange(360.0), indexing="ij")
    img = 127 + 80 * torch.sin(xx / 13) * torch.cos(yy / 7) + 40 * (xx > 200) - 30 * (yy > 150)
    frame = (img[None].repeat(3, 1, 1) + torch.rand(3, 240, 360, generator=rng) * 20).clamp(0, 255).round()
    frame_u8 = frame.to(torch.uint8)
    hw = geo.rescaled_size(240, 360, s0)
    small = geo.rescale_frame(frame, hw)
    sampler = geo.WindowSampler((240, 360), hw, "cpu")
    whole = geo.WindowSampler((240, 360), hw, "cpu", whole_frame=True)
    differ, total = 0, 0
    for cx, cy, n, out in [(100, 100, 180, 180), (5, 3, 200, 180), (hw[1] - 2, hw[0] - 1, 150, 180),
                           (hw[1] / 2, hw[0] / 2, 240, 180), (50.5, 60.2, 101, 324), (20, hw[0] - 5, 400, 180)]:
        ref = geo.crop_and_resize(small, cx, cy, n, out)
        got = sampler.crop(frame_u8, cx, cy, n, out)
        assert got.shape == ref.shape == (1, 3, out, out) and got.dtype == torch.float32
        d = (got - ref).abs()
        assert float(d.max()) <= 1.0 + 1e-4, (cx, cy, n)
        differ += int((d > 1e-3).sum())
        total += d.numel()
        assert torch.equal(whole.crop(frame_u8, cx, cy, n, out), ref)
    assert differ <= 1e-3 * total


@pytest.mark.parametrize("box,msg", [
    ((0, 0, 0, 10), "non-positive"), ((5, 5, -3, 10), "non-positive"),
    ((float("nan"), 1, 10, 10), "NaN"), ((1, 1, float("inf"), 10), "NaN or infinity"),
    ((500, 500, 10, 10), "outside"), ((-50, -50, 20, 20), "outside"),
    ((1, 1, 1.5, 10), "smaller than 2"), ((1, 2, 3), "expected 4"),
])
def test_bad_boxes_are_named(box, msg):
    with pytest.raises(BadBoxError, match=msg):
        geo.validate_box(box, (240, 320))


def test_five_scale_pyramid_extends_the_three_scale_one():
    """count=5 (the authors' defined 5-scale variant): the inner three levels are the 3-scale pyramid's,
    the outer two are resized by 2 steps; the GEMM route gives the same responses as pyramid + conv2d."""
    from tadt_plugin.matching import correlate, pyramid_correlate
    g = torch.Generator().manual_seed(3)
    x, tmpl = torch.randn(1, 6, 45, 45, generator=g), torch.randn(6, 9, 11, generator=g)
    p3, p5 = pyramid(x, 2, 3), pyramid(x, 2, 5)
    assert p5.shape == (5, 6, 45, 45)
    assert torch.equal(p5[1:4], p3)
    assert not torch.allclose(p5[0], p5[1]) and not torch.allclose(p5[3], p5[4])
    assert float(p5[4, :, :2].abs().max()) == 0.0   # shrunk to 41 cells: zero border of 2 cells
    ref = correlate(p5, tmpl)
    out = pyramid_correlate(x, tmpl, 2, "gemm", 5)
    assert out.shape == (5, 1, 45, 45)
    assert torch.allclose(out, ref, atol=1e-4 * ref.abs().max().item())
    assert scale_factors(45, count=5) == pytest.approx((45 / 49, 45 / 47, 1.0, 45 / 43, 45 / 41))
    assert scale_factors(37, mode="adaptive", count=5)[0] == pytest.approx(37 / 41)


def test_interpolated_scale_finds_the_vertex_between_the_scales():
    from tadt_plugin.matching import interpolate_scale
    f = scale_factors(45)
    x = [math.log(v) for v in f]
    for true in (0.98, 1.0, 1.02, 1.04):
        peaks = [2.0 - 30 * (xi - math.log(true)) ** 2 for xi in x]
        assert interpolate_scale(f, peaks, 1) == pytest.approx(true, rel=1e-9)
    assert interpolate_scale(f, [2.0, 1.0, 0.5], 0) == f[0]          # an end is best: its factor
    assert interpolate_scale(f, [1.0, 1.0, 1.0], 1) == 1.0           # flat, not concave: no change
    assert interpolate_scale(f, [1.0, 0.9, 1.0], 1) == 1.0           # convex: no change
    assert interpolate_scale(f, [0.0, 1.0, 0.99999], 1) <= f[2]      # clamped to the neighbours
    f5 = scale_factors(45, count=5)
    peaks = [2.0 - 30 * (math.log(v) - math.log(1.06)) ** 2 for v in f5]
    assert interpolate_scale(f5, peaks, 3) == pytest.approx(1.06, rel=1e-9)


def test_scale_count_and_penalties_must_agree():
    from tadt_plugin.params import TadtParams
    with pytest.raises(ValueError, match="scale_penalties needs 5 values"):
        TadtParams(scale_count=5)
    with pytest.raises(ValueError, match="scale_count=4"):
        TadtParams(scale_count=4, scale_penalties=(1, 1, 1, 1))
    assert TadtParams(scale_count=5, scale_penalties=(0.985, 0.988, 1, 1.005, 1.006)).scale_count == 5
