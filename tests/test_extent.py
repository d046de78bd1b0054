"""The target-aware extent (extent.py, the ``extent_lr`` option): the size that the selected channels'
saliency around the centre measures.  Measured on the 15 dev sequences and not (yet) in a parameter set
(README "Robustness")."""
import math

import pytest
import torch

from tadt_plugin import extent
from tadt_plugin.params import TadtParams


def blob_map(side_h: int, side_w: int, centre=(22, 22), F=45, C=6, background=0.05, seed=0) -> torch.Tensor:
    """C x F x F features: a uniform target block (value 1 on the first C/2 channels) on weak noise."""
    g = torch.Generator().manual_seed(seed)
    f = background * torch.rand(C, F, F, generator=g)
    r0, c0 = centre[0] - side_h // 2, centre[1] - side_w // 2
    f[: C // 2, r0:r0 + side_h, c0:c0 + side_w] += 1.0
    return f


@pytest.mark.parametrize("side_h, side_w", [(8, 8), (12, 6), (16, 16)])
def test_moments_measure_the_blocks_sqrt_area(side_h, side_w):
    f = blob_map(side_h, side_w)
    weights = extent.channel_weights(f[:, 18:27, 18:27])
    # the region (twice the given box) may be from a box too small or too large: the block is what is measured
    for guess in (0.7, 1.0, 1.3):
        m = extent.measure(f, weights, (22.0, 22.0), (guess * side_h, guess * side_w))
        assert m == pytest.approx(math.sqrt(side_h * side_w), rel=0.08), (guess, m)


def test_discriminative_weights_drop_channels_as_active_around_the_target():
    f = blob_map(9, 9, C=6)
    f[3] += 0.8                      # a channel as active on the background as on the target
    template = f[:, 18:27, 18:27]
    plain = extent.channel_weights(template)
    disc = extent.channel_weights(template, f, (22.0, 22.0), (4.5, 4.5))
    assert plain[3] > 0.8 and disc[3] < 0.05 * disc[:3].min()
    assert torch.all(disc[:3] > 0.9) and torch.all(disc >= 0)


def test_no_saliency_gives_no_measurement():
    f = torch.zeros(4, 45, 45)
    w = torch.ones(4)
    assert extent.measure(f, w, (22.0, 22.0), (5.0, 5.0)) is None


def test_bad_extent_settings_are_named():
    with pytest.raises(ValueError, match="extent_lr"):
        TadtParams(extent_lr=1.5)
    with pytest.raises(ValueError, match="extent_threshold"):
        TadtParams(extent_threshold=0.0)


def test_tracker_follows_a_rigid_zoom_better_with_the_extent(tracker_factory, rigid_zoom):
    """A rigid target whose size swings by +-35%: the pyramid's three levels lag it; the extent of the
    target-aware features pulls the size towards it."""
    size_err, ious = {}, {}
    size_err[0.0], ious[0.0], _ = rigid_zoom.baseline()   # extent_lr=0: the pyramid alone
    tr = tracker_factory(extent_lr=0.1, extent_band=1.3)
    size_err[0.1], ious[0.1] = rigid_zoom(tr)
    assert 0.5 < tr.state.extent_calib < 2.0   # set once, on the first frame
    # measured: median size error 0.102 -> 0.079 (log), mean IoU 0.818 -> 0.836
    assert size_err[0.1] < 0.9 * size_err[0.0], size_err
    assert ious[0.1] > ious[0.0] + 0.01, ious
