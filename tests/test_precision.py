"""Precision choice (dtype="auto") and the first-frame regression's correlation backends."""
import numpy as np
import pytest
import torch

from tadt_plugin import devices, metrics
from tadt_plugin.params import TadtParams
from tadt_plugin.selection import CORRELATORS, regression_scores
from tadt_plugin.sequences import open_source, read_frame


def test_auto_dtype_follows_the_cpu_and_explicit_choices_win():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    native = devices.cpu_bf16_native()
    assert native in (True, False, None)
    name, reason = devices.resolve_dtype("auto", cpu)
    assert name == ("bfloat16" if native else "int8" if devices.int8_available() else "float32")
    assert devices.cpu_capability() in reason and ("without" in reason) == (name != "bfloat16")
    assert devices.resolve_dtype("auto", cuda)[0] == "float16"   # pure choice, no GPU needed
    for explicit in ("float32", "bfloat16", "float16", "int8"):
        assert devices.resolve_dtype(explicit, cpu) == (explicit, "asked for")
    with pytest.raises(ValueError, match="init_dtype"):
        TadtParams(init_dtype="int4")
    assert TadtParams().dtype == "auto" and TadtParams().init_dtype == "float32"


def test_the_automatic_choice_is_printed_once(monkeypatch):
    monkeypatch.setattr(devices, "_warned", set())
    seen = []
    for _ in range(3):
        devices.announce_dtype("bfloat16", "CPU capability AVX512 with native bfloat16", seen.append)
    assert len(seen) == 1 and "dtype auto -> bfloat16" in seen[0] and "--set dtype=" in seen[0]


@pytest.mark.parametrize("shape", [(2, 16, 21, 9, 7), (1, 8, 45, 21, 9), (1, 8, 45, 19, 15), (2, 4, 12, 13, 13),
                                   (1, 3, 10, 1, 1)])
def test_dft_correlator_equals_conv2d(shape):
    """Odd and even padded widths (the one-sided spectrum's Nyquist column), 1x1 to large kernels."""
    L, C, F, kh, kw = shape
    g = torch.Generator().manual_seed(3)
    x = torch.randn(L, C, F, F, generator=g)
    w, grad_out = torch.randn(L, C, kh, kw, generator=g), torch.randn(L, F, F, generator=g)
    a, b = CORRELATORS["dft"](x, kh, kw), CORRELATORS["conv"](x, kh, kw)
    fa, fb = a.forward(w), b.forward(w)
    ga, gb = a.filter_grad(grad_out), b.filter_grad(grad_out)
    assert fa.shape == fb.shape == (L, F, F) and ga.shape == gb.shape == (L, C, kh, kw)
    assert torch.allclose(fa, fb, atol=1e-4 * fb.abs().max().item())
    assert torch.allclose(ga, gb, atol=1e-4 * gb.abs().max().item())


def test_regression_backends_fit_the_same_filters():
    """Without the early stop (whose firing step moves with rounding) the three backends' channel scores
    agree: same objective, same Adam steps."""
    g = torch.Generator().manual_seed(4)
    feats = torch.rand(2, 24, 21, 21, generator=g) * 30
    out = {}
    for backend in CORRELATORS:
        p = TadtParams(device="cpu", regression_backend=backend, reg_max_steps=12, reg_stop_loss=0.0)
        scores, steps, peaks = regression_scores(feats, 7, 5, p)
        assert steps == [12, 12] and scores.shape == (2, 24)
        out[backend] = scores
    ref = out["conv"]
    for backend in ("dft", "fft"):
        assert torch.allclose(out[backend], ref, rtol=1e-3, atol=1e-3 * ref.abs().max().item()), backend


def test_auto_tracker_selects_in_float32_and_tracks(crossing_float32, tracker_factory):
    """dtype="auto" on a real sequence: the first frame runs in float32, so the selected channels are
    exactly the float32 tracker's, whatever precision the per-frame path got."""
    frames, gt, _, (idx41, idx43) = crossing_float32   # float32's selection
    frames, gt = frames[:40], gt[:40]
    auto = tracker_factory(dtype="auto")
    assert auto.dtype_name == devices.resolve_dtype("auto", torch.device("cpu"))[0]
    assert next(auto.init_net.parameters()).dtype == torch.float32
    assert (auto.init_net is auto.net) == (auto.dtype == torch.float32)
    auto.initialize(frames[0], gt[0])
    assert torch.equal(auto.state.idx41, idx41) and torch.equal(auto.state.idx43, idx43)
    boxes = np.asarray([gt[0]] + [auto.track(f)[0] for f in frames[1:]])
    assert metrics.evaluate(boxes, gt)["auc"] >= 0.6


def test_bfloat16_first_frame_on_request(seq_root, tracker_factory):
    if not devices.cpu_has_native_bf16():
        pytest.skip("this CPU has no native bfloat16 (it would run emulated, several times slower)")
    s = open_source(seq_root / "Skiing")
    t = tracker_factory(dtype="bfloat16", init_dtype="same")
    assert t.init_net is t.net and next(t.net.parameters()).dtype == torch.bfloat16
    info = t.initialize(read_frame(s.frames[0]), s.ground_truth[0])
    assert info["channels_conv41"] + info["channels_conv43"] >= 250
    box, conf = t.track(read_frame(s.frames[1]))
    assert np.all(np.isfinite(box)) and 0 <= conf <= 1


def test_float64_fit_selects_the_same_channels_with_every_backend():
    """reg_dtype="float64" (the default): with the early stop on, the three correlators take the same
    steps and give the same channel scores to ~1e-9, so the selection does not depend on the backend."""
    g = torch.Generator().manual_seed(5)
    feats = torch.rand(2, 24, 21, 21, generator=g) * 30
    out = {}
    for backend in CORRELATORS:
        p = TadtParams(device="cpu", regression_backend=backend, reg_dtype="float64", reg_stop_loss=0.5)
        out[backend] = regression_scores(feats, 7, 5, p)
    ref_scores, ref_steps, _ = out["conv"]
    for backend in ("dft", "fft"):
        scores, steps, _ = out[backend]
        assert steps == ref_steps, backend
        assert torch.allclose(scores, ref_scores, rtol=1e-6, atol=1e-9 * ref_scores.abs().max().item()), backend
        assert torch.equal(scores > 0, ref_scores > 0), backend


def test_correlation_products_in_the_per_frame_dtype(tracker_factory):
    """correlation_dtype="same" (default): bfloat16 / float16 trackers compute the correlation's products
    in their own dtype, float32 and int8 trackers in float32; the bfloat16 products give the float32
    responses to bfloat16 rounding (generated features, 13 x 15 template as on the dev sequences)."""
    from tadt_plugin.matching import pyramid_correlate
    assert TadtParams().correlation_dtype == "same"
    with pytest.raises(ValueError, match="correlation_dtype"):
        TadtParams(correlation_dtype="int8")
    assert tracker_factory(dtype="float32").gemm_dtype is None
    assert tracker_factory(dtype="bfloat16").gemm_dtype == torch.bfloat16
    assert tracker_factory(dtype="bfloat16", correlation_dtype="float32").gemm_dtype is None
    if devices.int8_available():
        assert tracker_factory(dtype="int8").gemm_dtype is None
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 380, 45, 45, generator=g).bfloat16().float().contiguous(memory_format=torch.channels_last)
    tmpl = torch.rand(380, 13, 15, generator=g)
    ref = pyramid_correlate(x, tmpl)
    out = pyramid_correlate(x, tmpl, gemm_dtype=torch.bfloat16)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    err = (out - ref).abs().max().item() / ref.abs().max().item()
    assert 0 < err < 4e-3, err
    assert torch.equal(out.flatten(1).argmax(1), ref.flatten(1).argmax(1))


def test_fused_adam_fits_what_the_plain_adam_fits(monkeypatch):
    """The regression's Adam runs fused where torch has it; a torch without a fused CPU Adam gets the
    plain one, with the same steps and channel scores (float64, early stop on)."""
    g = torch.Generator().manual_seed(6)
    feats = torch.rand(2, 24, 21, 21, generator=g) * 30
    p = TadtParams(device="cpu", reg_stop_loss=0.5)
    fused_scores, fused_steps, _ = regression_scores(feats, 7, 5, p)
    made = []
    real_adam = torch.optim.Adam

    def no_fused_adam(*args, **kwargs):
        if kwargs.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        made.append(kwargs)
        return real_adam(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", no_fused_adam)
    plain_scores, plain_steps, _ = regression_scores(feats, 7, 5, p)
    assert len(made) == 2 and plain_steps == fused_steps   # one plain Adam per layer, same early stops
    assert torch.allclose(plain_scores, fused_scores, rtol=1e-9, atol=1e-12 * fused_scores.abs().max().item())
    assert torch.equal(plain_scores > 0, fused_scores > 0)
