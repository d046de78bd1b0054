"""The DSST-style scale filter (scale_filter.py, fHOG features in hog.py), the `scale_estimator="dsst"`
option: measured on the 15 dev sequences and not adopted (README "Robustness"), kept for ablations."""
import cv2
import numpy as np
import pytest
import torch

from tadt_plugin.hog import CHANNELS, fhog
from tadt_plugin.params import TadtParams
from tadt_plugin.scale_filter import ScaleFilter
from tadt_plugin.synthetic import SyntheticSequence


def stripes(vertical: bool, n=4, size=32) -> torch.Tensor:
    ramp = (np.arange(size) // 4 % 2) * 255.0
    img = np.tile(ramp[None, :], (size, 1)) if vertical else np.tile(ramp[:, None], (1, size))
    return torch.tensor(img, dtype=torch.float32).expand(n, 3, size, size)


def test_fhog_shape_range_and_orientation():
    f = fhog(stripes(True))
    assert f.shape == (4, CHANNELS, 8, 8)
    assert torch.isfinite(f).all() and f.min() >= 0 and f[:, :27].max() <= 4 * 0.2 * 0.5 + 1e-6
    # vertical stripes: gradients along x, all in the unsigned bin 0; horizontal: around 90 deg (bins 4, 5)
    unsigned_v = fhog(stripes(True))[:, 18:27].sum(dim=(0, 2, 3))
    unsigned_h = fhog(stripes(False))[:, 18:27].sum(dim=(0, 2, 3))
    assert unsigned_v.argmax() == 0 and unsigned_v[0] > 0.9 * unsigned_v.sum()
    assert unsigned_h[4:6].sum() > 0.9 * unsigned_h.sum()
    assert torch.allclose(fhog(torch.zeros(1, 3, 8, 8)), torch.zeros(1, CHANNELS, 2, 2))
    with pytest.raises(ValueError, match="multiple"):
        fhog(torch.zeros(1, 3, 10, 8))


@pytest.mark.parametrize("zoom", [0.92, 1.0, 1.06])
def test_scale_filter_recovers_a_zoom_of_the_first_frame(zoom):
    seq = SyntheticSequence(n_frames=1, size=(320, 240), target=(56, 64), seed=5)
    img, (x, y, w, h) = seq.frame(0), seq.box(0)
    cx, cy = x + w / 2, y + h / 2
    frame = torch.from_numpy(img).permute(2, 0, 1).float()
    sf = ScaleFilter(frame, (cx, cy), (w, h))
    zoomed = cv2.warpAffine(img, np.float32([[zoom, 0, cx * (1 - zoom)], [0, zoom, cy * (1 - zoom)]]), (320, 240))
    k, samples = sf.estimate(torch.from_numpy(zoomed).permute(2, 0, 1).float(), (cx, cy), (w, h))
    assert k == pytest.approx(zoom, abs=0.021)   # within one of the filter's 2% steps
    assert samples.shape[0] == 33


def test_scale_filter_rejects_bad_settings():
    frame = torch.zeros(3, 64, 64)
    with pytest.raises(ValueError, match="odd"):
        ScaleFilter(frame, (32, 32), (20, 20), n_scales=32)
    with pytest.raises(ValueError, match="step"):
        ScaleFilter(frame, (32, 32), (20, 20), step=1.0)
    with pytest.raises(ValueError, match="scale_estimator"):
        TadtParams(scale_estimator="box")


def test_tracker_follows_a_rigid_zoom_better_with_the_scale_filter(tracker_factory, rigid_zoom):
    """A rigid target whose size swings by +-35%: the filter's fine steps follow it more closely than
    TADT's three pyramid levels (on the real dev sequences, which deform and rotate, it does not:
    README "Robustness")."""
    size_err, ious = {}, {}
    size_err["pyramid"], ious["pyramid"], _ = rigid_zoom.baseline()
    size_err["dsst"], ious["dsst"] = rigid_zoom(tracker_factory(scale_estimator="dsst"))
    assert size_err["dsst"] < 0.06 and size_err["dsst"] < 0.6 * size_err["pyramid"], size_err
    assert ious["dsst"] > 0.85 and ious["dsst"] > ious["pyramid"], ious
