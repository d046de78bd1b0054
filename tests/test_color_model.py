"""The colour model (color_model.py, an option: color_weight): histograms, the score map, its merge into
the position's choice (matching.locate), and the tracker with it switched on."""
import numpy as np
import pytest
import torch

from tadt_plugin.color_model import ColorModel, box_mean, colour_bins
from tadt_plugin.matching import locate
from tadt_plugin.params import TadtParams


def test_box_mean_is_the_mean_over_the_replicated_box():
    p = torch.rand(23, 31, generator=torch.Generator().manual_seed(0))
    for kh, kw in ((1, 1), (3, 5), (9, 7), (25, 33)):
        padded = np.pad(p.numpy(), ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="edge")
        ref = np.array([[padded[i:i + kh, j:j + kw].mean() for j in range(31)] for i in range(23)])
        np.testing.assert_allclose(box_mean(p, kh, kw).numpy(), ref, atol=1e-5, err_msg=f"{kh}x{kw}")


def scene(side=120, at=(60, 60), wh=(30, 24), target=(200, 40, 40), background=(40, 60, 200)):
    """1 x 3 x side x side: a red box (w x h) centred at ``at`` (x, y) on a blue window."""
    x = torch.empty(1, 3, side, side)
    x[0] = torch.tensor(background, dtype=torch.float32)[:, None, None]
    (cx, cy), (w, h) = at, wh
    x[0, :, cy - h // 2: cy + h // 2, cx - w // 2: cx + w // 2] = torch.tensor(target, dtype=torch.float32)[:, None, None]
    return x


def test_score_map_is_high_on_the_targets_colour_and_low_elsewhere():
    model = ColorModel(scene(), (30, 24), bins=16)
    moved = scene(at=(30, 80))   # the red box elsewhere in the window
    m = model.score_map(moved, (30, 24), 120)
    assert m.shape == (120, 120) and 0.0 <= float(m.min()) and float(m.max()) <= 1.0
    assert m[80, 30] > 0.9 and m[20, 100] < 0.1
    assert np.unravel_index(int(torch.argmax(m)), m.shape) == pytest.approx((80, 30), abs=2)
    unseen = torch.full((1, 3, 40, 40), 128.0)   # grey: in neither histogram
    assert torch.allclose(model.score_map(unseen, (10, 10), 40), torch.full((40, 40), 0.5))
    # the same map at another resolution (the tracker's window side n)
    assert model.score_map(moved, (30, 24), 60)[40, 15] > 0.9


def test_update_blends_towards_the_new_windows_histograms():
    model = ColorModel(scene(), (30, 24), bins=8, lr=1.0)
    green = scene(target=(30, 200, 30))
    model.update(green, (30, 24))   # lr 1: the new window's histograms only
    fresh = ColorModel(green, (30, 24), bins=8)
    assert torch.allclose(model.target, fresh.target) and torch.allclose(model.background, fresh.background)
    half = ColorModel(scene(), (30, 24), bins=8, lr=0.5)
    half.update(green, (30, 24))
    red = int(colour_bins(scene()[:, :, 60:61, 60:61], 8))
    assert half.target[red] == pytest.approx(0.5 * ColorModel(scene(), (30, 24), bins=8).target[red])


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="bins"):
        ColorModel(scene(), (30, 24), bins=1)
    with pytest.raises(ValueError, match="learning rate"):
        ColorModel(scene(), (30, 24), lr=1.5)
    for bad in (dict(color_weight=1.5), dict(color_bins=100), dict(color_lr=-0.1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TadtParams(**bad)


def test_locate_merges_the_prior_into_the_position_only():
    """A response with two equal blobs: the prior picks the blob it favours; the scale is chosen as
    without it, and a weight of 0 changes nothing."""
    F_, n = 21, 42
    resp = torch.zeros(3, 1, F_, F_)
    resp[1, 0, 10, 6] = resp[1, 0, 10, 14] = 1.0   # the middle scale: two peaks, left and right
    resp[0, 0, 10, 10] = 0.5
    window = torch.ones(n, n)   # a flat motion prior
    pen = torch.ones(3)
    plain = locate(resp, n, window, pen, 1.0)
    prior = torch.zeros(n, n)
    prior[:, 26:] = 1.0   # favours the right-hand side
    right = locate(resp, n, window, pen, 1.0, prior, 0.3)
    assert int(plain[0]) == int(right[0]) == 1
    assert plain[2] < n / 2 and right[2] > n / 2   # column: the first (left) peak, then the right one
    assert torch.equal(locate(resp, n, window, pen, 1.0, prior, 0.0), plain)
    assert torch.equal(right[5:], plain[5:])   # the scales' peaks do not see the prior


def test_tracker_with_the_colour_model_tracks_and_learns(tracker_factory):
    """color_weight > 0 (an option, off in every set: README "Robustness"): the model is built on the
    first frame, its map is timed as its own stage, the histograms learn on confident frames, and the
    generated demo is tracked as well as without it."""
    from tadt_plugin import metrics
    from tadt_plugin.synthetic import SyntheticSequence
    seq = SyntheticSequence(n_frames=30)
    gt = seq.ground_truth()
    tracker = tracker_factory(conf_low=0.35, template_conf=0.8, color_weight=0.15)
    tracker.timer.enabled = True
    tracker.initialize(seq.frame(0), gt[0])
    first = tracker.state.color.target.clone()
    assert first.sum() == pytest.approx(1.0) and tracker.state.color.background.sum() == pytest.approx(1.0)
    boxes = np.asarray([gt[0]] + [tracker.track(seq.frame(i))[0] for i in range(1, len(seq))])
    assert tracker.timer.totals.get("color", 0.0) > 0
    assert not torch.equal(tracker.state.color.target, first)   # learnt on the confident frames
    assert metrics.evaluate(boxes, gt)["auc"] >= 0.5
