"""Bad and extreme input through the Python API, with property-based tests for the geometry."""
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tadt_plugin import geometry as geo
from tadt_plugin.devices import resolve_device
from tadt_plugin.errors import BadBoxError, DeviceError
from tadt_plugin.synthetic import SyntheticSequence

finite = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(x=finite, y=finite, w=finite, h=finite, H=st.integers(1, 2000), W=st.integers(1, 2000))
def test_validate_box_accepts_or_names_the_problem(x, y, w, h, H, W):
    try:
        b = geo.validate_box([x, y, w, h], (H, W))
    except BadBoxError as exc:
        assert str(exc)  # a message naming the problem
        return
    assert np.all(np.isfinite(b)) and b[2] >= 2 and b[3] >= 2
    assert b[0] < W and b[1] < H and b[0] + b[2] > 0 and b[1] + b[3] > 0


@given(w=st.floats(2, 5000), h=st.floats(2, 5000))
def test_rescale_brings_target_into_44_59(w, h):
    s0 = geo.rescale_factor((w, h))
    assert 44 - 1e-6 <= math.sqrt(w * s0 * h * s0) <= 59 + 1e-6


@given(H=st.integers(1, 3000), W=st.integers(1, 3000))
def test_window_side_and_template_are_consistent(H, W):
    side = geo.window_side(H, W)
    assert (side - 4) % 8 == 0 and side >= 52
    feat = side // 4
    ht, wt = geo.template_size(59, 59, feat, side)
    assert ht % 2 == 1 and wt % 2 == 1 and 1 <= ht <= max(1, feat - 2)


@given(c=st.floats(-1e4, 1e4), n=st.integers(1, 600), limit=st.integers(1, 800))
def test_crop_indices_stay_in_the_image(c, n, limit):
    idx = geo.crop_indices(c, n, limit, "cpu")
    assert idx.numel() == n and int(idx.min()) >= 0 and int(idx.max()) <= limit - 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.floats(0, 400), st.floats(0, 400), st.sampled_from([45 / 47, 1.0, 45 / 43])),
                      min_size=1, max_size=60))
def test_state_update_stays_bounded(steps, tracker_factory):
    """Any sequence of peaks and scale choices (even adversarial ones) leaves a finite, bounded state."""
    t = _initialised(tracker_factory)
    st_ = t.state
    saved = (st_.cx, st_.cy, st_.w, st_.h, st_.win)
    for ph, pw, k in steps:
        t._update(st_, ph, pw, k)
        H, W = st_.image_hw
        assert 1 <= st_.cx <= W and 1 <= st_.cy <= H
        assert t.params.min_target_px - 1e-9 <= min(st_.w, st_.h) and max(st_.w, st_.h) <= max(H, W) + 1e-9
        assert 8 <= st_.win <= 4 * max(H, W) + st_.side
    st_.cx, st_.cy, st_.w, st_.h, st_.win = saved


_cache = {}


def _initialised(tracker_factory):
    if "t" not in _cache:
        seq = SyntheticSequence(n_frames=1)
        t = tracker_factory()
        t.initialize(seq.frame(0), seq.box(0))
        _cache["t"] = t
    return _cache["t"]


def test_whole_frame_and_partly_outside_targets_track(tracker_factory):
    seq = SyntheticSequence(n_frames=6)
    t = tracker_factory()
    t.initialize(seq.frame(0), [0, 0, 320, 240])  # target = the whole frame
    for i in range(1, 3):
        box, _ = t.track(seq.frame(i))
        assert np.all(np.isfinite(box))
    x, y, w, h = seq.box(0)
    t.initialize(seq.frame(0), [x - w * 0.6 - 200, y, w + 200, h])  # partly outside the image
    for i in range(1, 4):
        box, _ = t.track(seq.frame(i))
        assert np.all(np.isfinite(box))


def test_tiny_frame_and_far_border_window(tracker_factory):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(24, 30, 3), dtype=np.uint8)  # smaller than the 180 px window
    t = tracker_factory()
    t.initialize(img, [10, 8, 8, 6])
    box, conf = t.track(img)
    assert np.all(np.isfinite(box)) and 0 <= conf <= 1


def test_cuda_request_without_gpu_falls_back_or_errors():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the fallback cannot be observed")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert resolve_device("cuda:7").type == "cpu"
    assert any("falling back to the CPU" in str(x.message) for x in w)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda", strict=True)
    with pytest.raises(DeviceError, match="unknown device|unsupported device"):
        resolve_device("tpu")


def test_bfloat16_on_a_cpu_without_it_warns_once(monkeypatch):
    from tadt_plugin import devices
    assert isinstance(devices.cpu_has_native_bf16(), bool)   # the real probe answers on this machine
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="float16 is for CUDA"):
        devices.check_dtype(cpu, torch.float16)
    monkeypatch.setattr(devices, "_warned", set())
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        devices.check_dtype(cpu, torch.bfloat16)
    assert not w
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        devices.check_dtype(cpu, torch.bfloat16)
        devices.check_dtype(cpu, torch.bfloat16)
        devices.check_dtype(cpu, torch.float32)
    assert len(w) == 1 and "no native bfloat16" in str(w[0].message)
