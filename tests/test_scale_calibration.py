"""Scale penalties calibrated on the first frame (scale_calibration.py, the ``scale_calibrate`` option)."""
import math

import numpy as np
import pytest

from tadt_plugin.params import TadtParams
from tadt_plugin.scale_calibration import calibrated_penalties


def test_penalties_lie_between_winning_at_the_own_zoom_and_losing_at_zoom_one():
    # rows: the window zoomed by level z's factor; columns: pyramid levels (smaller, same, larger)
    peaks = [[0.98, 1.00, 0.94],
             [0.96, 1.00, 0.95],
             [0.95, 1.00, 0.97]]
    lo = (1.00 / 0.98, 1.00 / 0.97)      # the least with which each side level wins at its own zoom
    hi = (1.00 / 0.96, 1.00 / 0.95)      # the most with which it still loses at zoom 1
    assert calibrated_penalties(peaks, 0.0) == pytest.approx((lo[0], 1.0, lo[1]))
    assert calibrated_penalties(peaks, 1.0) == pytest.approx((hi[0], 1.0, hi[1]))
    mid = calibrated_penalties(peaks)
    assert mid == pytest.approx((math.sqrt(lo[0] * hi[0]), 1.0, math.sqrt(lo[1] * hi[1])))
    # with these penalties each zoom picks its own level
    for z, row in enumerate(peaks):
        assert int(np.argmax(np.asarray(row) * np.asarray(mid))) == z


@pytest.mark.parametrize("peaks, position, match", [
    ([[1.0, 0.9], [0.9, 1.0]], 0.5, "odd square"),
    ([[1.0, 0.9, 0.8], [0.9, 1.0, 0.9]], 0.5, "odd square"),
    ([[1.0, 0.9, 0.8]] * 3, 1.5, "position"),
    ([[1.0, 0.0, 0.8]] * 3, 0.5, "positive"),
])
def test_bad_peaks_or_position_are_named(peaks, position, match):
    with pytest.raises(ValueError, match=match):
        calibrated_penalties(peaks, position)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="scale_calibrate_position"):
        TadtParams(scale_calibrate_position=2.0)


def test_tracker_follows_a_rigid_zoom_with_calibrated_penalties(tracker_factory, rigid_zoom):
    """A rigid target whose size swings by +-35%: with the authors' fixed penalties the resized levels
    rarely win and the size lags; penalties measured on the first frame make up for the resizing."""
    size_err, ious = {}, {}
    size_err[False], ious[False], pen = rigid_zoom.baseline()   # scale_calibrate=False
    assert pen == pytest.approx([0.99, 1.0, 1.0055])
    tr = tracker_factory(scale_calibrate=True)
    size_err[True], ious[True] = rigid_zoom(tr)
    pen = tr.penalties.tolist()   # set once, on the first frame
    # the side levels are favoured, and more than by the authors' 0.99 / 1.0055
    assert pen[1] == 1.0 and pen[0] > 1.0 and pen[2] > 1.0055, pen
    assert tr.state.timings["init_scale_calibration"] > 0
    # measured (float32): median size error 0.102 -> 0.021 (log), mean IoU 0.818 -> 0.896
    assert size_err[True] < 0.5 * size_err[False], size_err
    assert ious[True] > ious[False] + 0.04, ious
