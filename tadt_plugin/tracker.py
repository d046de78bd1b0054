"""The core TADT tracker: holds the state and runs the steps of TADT_SPEC.md in order.

API (RGB arrays in, boxes out; no paths, no toolkit imports)::

    tracker = TadtTracker(TadtParams(...))        # loads the backbone once
    tracker.initialize(rgb, [x, y, w, h])          # first frame: selection, template (spec 2-4)
    box, confidence = tracker.track(rgb)           # every later frame (spec 5)

``initialize`` may be called again at any time (VOT reset and multistart experiments re-initialise
in the same process); the backbone is reused.  The per-frame path is one straight line:
frame -> window of the rescaled frame (crop) -> backbone (pruned conv4_3) -> channel selection -> pyramid and
correlation (one step, matching.pyramid_correlate) -> peak -> box, with the peak read as the only
device-to-host transfer.  The robust pieces (off in `TadtParams()` = `plain`, on in `robust` = `default`)
hook in after the peak: confidence.py scores it, redetection.py searches wider on low-confidence frames
(one more backbone pass and transfer, on those frames only), template_update.py blends confident
frames into the template, and with ``distractor_weight`` > 0 (an option, off in every set) distractors.py
subtracts the look-alikes found on those frames from it.  With ``scale_estimator="dsst"`` (an option, off
in every set) the size comes from a separate scale filter read at the new centre (scale_filter.py); with
``extent_lr`` > 0 (an option, off in every set) extent.py pulls it towards the extent of the target-aware
features around the new centre on confident frames; with ``scale_calibrate`` (an option, off in every set)
the pyramid's scale penalties are measured on the first frame (scale_calibration.py) instead of fixed;
with ``color_weight`` > 0 (an option, off in every set) color_model.py's colour score joins the
correlation's in the choice of the position, and learns on confident frames.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from . import geometry as geo
from .backbone import STRIDE, VGG16Conv4, slice_conv43
from .color_model import ColorModel
from .confidence import RelativeConfidence
from .devices import announce_dtype, check_dtype, check_int8, resolve_device, resolve_dtype, torch_dtype
from .distractors import DistractorModel
from .errors import BadFrameError
from .frames import to_rgb_uint8
from .matching import WindowCache, interpolate_scale, locate, pyramid_correlate, scale_factors
from .params import TadtParams
from .quantized import calibrate_trunk, quantize_backbone
from .redetection import search_wider
from .scale_calibration import calibrated_penalties
from .scale_filter import ScaleFilter
from . import extent
from .selection import Selection, select_channels
from .template_update import TemplateModel, crop_cells, peak_cell
from .timing import StageTimer
from .weights import Weights, resolve_weights


@dataclass
class TrackState:
    s0: float                 # whole-frame rescale factor
    image_hw: Tuple[int, int]   # rescaled image size
    side: int                 # network input side S
    feat: int                 # feature side F = S/4
    cx: float                 # centre, 1-based rescaled px (MATLAB convention)
    cy: float
    w: float                  # target size, rescaled px
    h: float
    win: int                  # current window side in rescaled px
    orig_hw: Tuple[int, int]  # original frame size
    template: torch.Tensor    # C x ht x wt template matched with (template_model's, less the distractors')
    idx41: torch.Tensor
    w43: Optional[torch.Tensor]   # pruned conv4_3 weight (None: full conv4_3 + index)
    b43: Optional[torch.Tensor]
    idx43: torch.Tensor
    w41: float
    ref_peak: float           # template self-correlation, confidence reference
    selection: Selection
    confidence: RelativeConfidence
    template_model: TemplateModel
    vx: float = 0.0           # last confident displacement per frame, rescaled px (motion_momentum)
    vy: float = 0.0
    sampler: Optional[geo.WindowSampler] = None   # the rescaled frame's windows (frame size and s0 fixed)
    timings: Dict[str, float] = field(default_factory=dict)
    qnet: Optional[torch.nn.Module] = None   # dtype int8: this sequence's quantized backbone
    color: Optional[ColorModel] = None   # color_weight > 0: the target's colour model (color_model.py)
    scale_filter: Optional[ScaleFilter] = None   # scale_estimator="dsst": the size comes from it
    distractors: Optional[DistractorModel] = None   # look-alikes, subtracted when distractor_weight > 0
    extent_weights: Optional[torch.Tensor] = None   # extent_lr > 0: the first template's channel means
    extent_calib: float = 0.0   # extent_lr > 0: first-frame measured / given sqrt-area (extent.py)


class TadtTracker:
    def __init__(self, params: Optional[TadtParams] = None, weights: Optional[Weights] = None,
                 log=None):
        self.params = params or TadtParams()
        p = self.params
        if p.num_threads and p.num_threads > 0:
            torch.set_num_threads(p.num_threads)
        self.device = resolve_device(p.device, p.strict_device)
        self.dtype_name, self.dtype_reason = resolve_dtype(p.dtype, self.device)
        self.dtype = torch_dtype(self.dtype_name)   # int8: float32 here, the quantized copy is per sequence
        self.int8 = self.dtype_name == "int8"
        if self.int8:
            check_int8(self.device)
        check_dtype(self.device, self.dtype)
        kwargs = {} if log is None else {"log": log}
        self.weights = weights or resolve_weights(p.weights_path, p.weights_search_paths, **kwargs)
        self.net = self._build_net(self.dtype, prepack=p.prepack_backbone)
        # the first-frame pass (selection + template) runs in float32 unless init_dtype="same"; a second,
        # float32 copy of the backbone (~31 MB) is kept for it only when the per-frame dtype differs
        self.init_net = self.net
        if self.dtype != torch.float32 and p.init_dtype == "float32":
            self.init_net = self._build_net(torch.float32)   # once a sequence: not worth packed copies
        if p.dtype == "auto":
            announce_dtype(self.dtype_name, self.dtype_reason, log)
        # the correlation's products in the per-frame dtype when that is a 16-bit float and
        # correlation_dtype="same" (params.py); float32 otherwise
        half = self.dtype in (torch.bfloat16, torch.float16) and not self.int8
        self.gemm_dtype = self.dtype if (p.correlation_dtype == "same" and half) else None
        self.penalties = torch.tensor(p.scale_penalties, device=self.device, dtype=torch.float32)
        self.windows = WindowCache()
        self.state: Optional[TrackState] = None
        self.frame_index = 0
        self.last: Dict[str, float] = {}   # the last frame's score and robust flags (see track)
        self.redetect_passes = 0
        self.timer = StageTimer(self.device, enabled=False)  # the benchmark switches it on

    def _build_net(self, dtype: torch.dtype, prepack: bool = False) -> VGG16Conv4:
        net = VGG16Conv4(self.weights.state_dict, self.params.input_norm).to(self.device)
        if dtype != torch.float32:
            net = net.to(dtype)
            net.mean, net.inv_std = net.mean.float(), net.inv_std.float()
        if self.params.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if prepack:   # CPU + oneDNN: fused conv+ReLU on packed weights (backbone.py)
            net.prepack(geo.window_side(10 ** 4, 10 ** 4, self.params.search_factor * self.params.max_target_size))
        return net

    # ------------------------------------------------------------------------------------------
    def _to_tensor(self, image) -> torch.Tensor:
        """3 x H x W uint8 on the device (a view of the caller's pixels on the CPU): only the pixels a
        window needs are ever converted to float (geometry.WindowSampler)."""
        rgb = to_rgb_uint8(image)
        return torch.from_numpy(rgb).to(self.device).permute(2, 0, 1)

    def _window_input(self, frame: torch.Tensor, st: TrackState) -> torch.Tensor:
        """Crop the search window at the current centre and resize it to S x S (spec 2.3)."""
        return self._crop(frame, st.cx, st.cy, st.win, st.side)

    def _crop(self, frame: torch.Tensor, cx: float, cy: float, win: int, side: int) -> torch.Tensor:
        """The win x win window of the rescaled frame at (cx, cy), resized to side x side."""
        with self.timer("crop"):
            return self.state.sampler.crop(frame, cx, cy, win, side)

    def _features(self, x: torch.Tensor, st: TrackState) -> torch.Tensor:
        """Backbone pass + channel selection and balance -> 1 x C x F x F combined map (spec 4.3)."""
        x = x.to(self.dtype) if self.dtype != torch.float32 else x
        with self.timer("backbone"):
            f41, f43 = (st.qnet or self.net)(x, st.w43, st.b43)
        with self.timer("selection"):
            # gathered and joined as cells x channels matrices (views of the channels-last maps) into one
            # channels-last map: the correlation reads its cells as a view, the pyramid's resizing is ~8x
            # faster in it (1.4 -> 0.7 ms, one core, against gathering and joining channels-first maps)
            n, fh, fw = f41.shape[0], f41.shape[2], f41.shape[3]
            c43 = f43.permute(0, 2, 3, 1).reshape(n * fh * fw, f43.shape[1])
            if st.w43 is None:
                c43 = c43.index_select(1, st.idx43)
            elif c43.shape[1] != len(st.idx43):  # padded pruned conv4_3: keep the selected outputs
                c43 = c43[:, : len(st.idx43)]
            c41 = f41.permute(0, 2, 3, 1).reshape(n * fh * fw, f41.shape[1]).index_select(1, st.idx41).mul_(st.w41)
            feats = torch.cat([c43, c41], dim=1).view(n, fh, fw, -1).permute(0, 3, 1, 2)
            # kept in the per-frame dtype when the correlation's products are computed in it anyway
            return feats if feats.dtype == self.gemm_dtype else feats.float()

    # ------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def initialize(self, image, box_xywh: Sequence[float]) -> Dict[str, object]:
        p = self.params
        t0 = time.perf_counter()
        frame = self._to_tensor(image)
        H, W = frame.shape[-2:]
        box = geo.validate_box(box_xywh, (H, W), "initial box")
        s0 = geo.rescale_factor((box[2], box[3]), p.min_target_size, p.max_target_size)
        hw = geo.rescaled_size(H, W, s0)
        sampler = geo.WindowSampler((H, W), hw, self.device, p.whole_frame_rescale)
        x, y, w, h = (geo.matlab_round(v * s0) for v in box)
        w, h = max(w, 1), max(h, 1)
        side = geo.window_side(hw[0], hw[1], p.search_factor * p.max_target_size)
        feat = side // STRIDE
        cx, cy = x + w / 2.0, y + h / 2.0
        # First window: top-left floor(centre - S/2), so the crop centre is that + S/2 (spec 2.3).
        wx, wy = math.floor(cx - side / 2) + side / 2, math.floor(cy - side / 2) + side / 2
        # the first window from the whole rescaled frame (the reference path, once a sequence): the
        # selection and the template are then exactly those of the authors' order of operations
        inp = sampler.crop_whole_frame(frame, wx, wy, side, side)
        t1 = time.perf_counter()
        taps = [] if self.int8 else None   # int8: this forward's maps calibrate the quantized copy
        f41, f43 = self.init_net(inp, taps=taps)  # the net casts its input to its own dtype
        f41, f43 = f41[0].float(), f43[0].float()
        t2 = time.perf_counter()
        # int8: observe the maps now, so that only relu4_2's is kept through the selection
        trunk = calibrate_trunk(self.net, taps=[taps]) if self.int8 else None
        del taps
        t2b = time.perf_counter()

        ht, wt = geo.template_size(h, w, feat, side)
        with torch.inference_mode(False):
            sel = select_channels(f41.clone(), f43.clone(), ht, wt, p)
        t3 = time.perf_counter()

        if p.prune_conv43:
            w43, b43 = slice_conv43(self.net, sel.idx43, p.prune_multiple)
        else:
            w43 = b43 = None
        t_q = time.perf_counter()
        qnet = None
        if self.int8:   # quantized per sequence: its activation ranges come from this first window
            qw, qb = (w43, b43) if w43 is not None else (self.net.conv4_3.weight, self.net.conv4_3.bias)
            qnet = quantize_backbone(self.net, qw, qb, trunk=trunk, float_convs=p.int8_float_convs)
        t_q = time.perf_counter() - t_q + (t2b - t2)
        combined = torch.cat([f43.index_select(0, sel.idx43), f41.index_select(0, sel.idx41) * sel.w41])
        c = feat // 2  # centre cell, round(F/2) 1-based (spec 3)
        template = combined[:, c - ht // 2: c + ht // 2 + 1, c - wt // 2: c + wt // 2 + 1].contiguous()
        ref_peak = float((template * template).sum())
        self.state = TrackState(s0=s0, image_hw=hw, side=side, feat=feat, cx=cx, cy=cy, w=float(w), h=float(h),
                                win=side, orig_hw=(H, W), template=template, idx41=sel.idx41, w43=w43,
                                b43=b43, idx43=sel.idx43, w41=sel.w41, ref_peak=ref_peak, selection=sel,
                                confidence=RelativeConfidence(p.conf_low, p.conf_rate),
                                template_model=TemplateModel(template, p.template_lr, p.template_anchor),
                                qnet=qnet, sampler=sampler,
                                distractors=DistractorModel(p.distractor_weight, p.distractor_ratio, p.distractor_lr))
        if p.scale_estimator == "dsst":
            self.state.scale_filter = ScaleFilter(frame, *self._target_in_frame(self.state), n_scales=p.dsst_scales,
                                                  step=p.dsst_step, lr=p.dsst_lr, sigma_factor=p.dsst_sigma,
                                                  lam=p.dsst_lambda, model_area=p.dsst_model_area)
        if p.extent_lr > 0:
            self._calibrate_extent(self.state, combined, wx, wy, side)
        if p.color_weight > 0:
            self.state.color = ColorModel(self._window_input(frame, self.state), self._box_in_window(self.state),
                                          p.color_bins, p.color_lr)
        self.last = {}
        self.redetect_passes = 0   # re-detection passes since this initialisation
        self.factors = torch.tensor(scale_factors(feat, p.scale_step_cells, p.scale_mode, p.scale_count))
        self.penalties = torch.tensor(p.scale_penalties, device=self.device, dtype=torch.float32)
        t_cal = time.perf_counter()
        if p.scale_calibrate:
            self.penalties = self._calibrate_scale(frame, self.state)
        t_cal = time.perf_counter() - t_cal
        self.frame_index = 0
        t4 = time.perf_counter()
        self.state.timings = {"init_crop": t1 - t0, "init_backbone": t2 - t1, "init_regression": sel.seconds[0],
                              "init_ranking": sel.seconds[1], "init_quantize": t_q,
                              "init_scale_calibration": t_cal,
                              "init_selection": (t3 - t2) - sel.seconds[0] - sel.seconds[1] + (t4 - t3) - t_q - t_cal,
                              "init_total": t4 - t0}
        return {"channels_conv41": sel.counts[0], "channels_conv43": sel.counts[1], "w41": sel.w41,
                "template_hw": (ht, wt), "s0": s0, "window": side, "reg_steps": sel.reg_steps,
                "reg_peak": sel.reg_peak, "rank_kept": sel.rank_kept}

    @torch.inference_mode()
    def _calibrate_scale(self, frame: torch.Tensor, st: TrackState) -> torch.Tensor:
        """The scale penalties for this target (scale_calibration.py): the first frame's window cut again at
        each level's zoom (a window 1/k as wide shows the target k times larger), through the per-frame
        path, each level's penalty-free peak, then the penalties that tell those zooms apart."""
        peaks = []
        ones = torch.ones(len(self.factors), device=self.device, dtype=torch.float32)
        timing, self.timer.enabled = self.timer.enabled, False   # first-frame work: not in the per-frame stages
        try:
            for k in self.factors.tolist():
                x = self._crop(frame, st.cx, st.cy, max(geo.matlab_round(st.win / k), 8), st.side)
                resp = pyramid_correlate(self._features(x, st), st.template, self.params.scale_step_cells,
                                         self.params.correlation, self.params.scale_count, self.gemm_dtype)
                out = locate(resp, st.win, self.windows.get(st.win, self.device), ones, self.params.window_weight)
                peaks.append(out[5:].cpu().tolist())
        finally:
            self.timer.enabled = timing
        pen = calibrated_penalties(peaks, self.params.scale_calibrate_position)
        return torch.tensor(pen, device=self.device, dtype=torch.float32)

    @torch.inference_mode()
    def track(self, image) -> Tuple[List[float], float]:
        st = self.state
        if st is None:
            raise RuntimeError("track() called before initialize()")
        with self.timer("upload"):
            frame = self._to_tensor(image)
        if tuple(frame.shape[-2:]) != st.orig_hw:
            raise BadFrameError(f"frame size changed from {st.orig_hw[1]}x{st.orig_hw[0]} to "
                                f"{frame.shape[-1]}x{frame.shape[-2]} mid-sequence")
        x0, y0 = st.cx, st.cy
        if self.params.motion_momentum > 0:   # centre the window where the target is heading
            self._move_to(st, st.cx + self.params.motion_momentum * st.vx, st.cy + self.params.motion_momentum * st.vy)
        crop = (st.cx, st.cy, st.win)   # where this frame's features come from
        x = self._window_input(frame, st)
        prior = None
        if st.color is not None:
            with self.timer("color"):
                prior = st.color.score_map(x, self._box_in_window(st), st.win)
        feats = self._features(x, st)
        with self.timer("pyramid_correlation"):
            resp = pyramid_correlate(feats, st.template, self.params.scale_step_cells, self.params.correlation,
                                     self.params.scale_count, self.gemm_dtype)
        with self.timer("upsample_peak"):
            out = locate(resp, st.win, self.windows.get(st.win, self.device), self.penalties,
                         self.params.window_weight, prior, self.params.color_weight)
            scale_i, row, col, raw, raw_at, *peaks = out.cpu().tolist()  # the one device -> host transfer
        k = float(self.factors[int(scale_i)])
        rel = st.confidence.score(raw_at)
        k_size = k
        if self.params.scale_interp and rel >= self.params.scale_interp_conf:
            k_size = interpolate_scale(self.factors.tolist(), peaks, int(scale_i))
        low = st.confidence.is_low(rel) or (self.params.conf_peak_ratio > 0 and
                                            raw > self.params.conf_peak_ratio * max(raw_at, 0.0))
        redetected = False
        if low and self.params.redetect_factor > 1:
            redetected, rel, raw_at = self._redetect(frame, st, raw_at, rel)
        if not redetected:
            if not low and rel >= self.params.template_conf:   # before _update changes st.win
                self._learn_appearance(st, feats, resp, row, col, k)
            self._update(st, row + 1, col + 1, k, self.params.low_conf_scale_lr if low else None, k_size,
                         frame, learn_scale=not low and rel >= self.params.dsst_learn_conf)
            if self.params.extent_lr > 0 and not low and rel >= self.params.extent_conf:
                with self.timer("extent"):
                    self._size_from_extent(st, feats, crop)
            if st.color is not None and not low and rel >= self.params.template_conf:
                here = self._window_input(frame, st)   # the window at the new position and size
                with self.timer("color"):
                    st.color.update(here, self._box_in_window(st))
        st.confidence.learn(raw_at, rel)
        if low:   # no trust in this frame's displacement: forget the velocity
            st.vx = st.vy = 0.0
        else:
            st.vx, st.vy = st.cx - x0, st.cy - y0
        self.frame_index += 1
        self.last = {"raw": raw_at, "relative_confidence": rel, "low_confidence": float(low),
                     "redetected": float(redetected)}
        conf = raw / st.ref_peak if st.ref_peak > 0 and math.isfinite(raw) else 0.0
        return self.box(), float(min(max(conf, 0.0), 1.0))

    def _redetect(self, frame: torch.Tensor, st: TrackState, raw_at: float,
                  rel: float) -> Tuple[bool, float, float]:
        """Search a wider window (redetection.py); move there, at the current size, when the candidate's
        score beats this frame's, and the current position's in the wider pass, by redetect_accept and is
        itself confident.  Returns (moved, confidence, raw score) of the position the tracker ends up at."""
        p = self.params
        self.redetect_passes += 1   # its crop and backbone time count in those stages (tadt bench)
        cand = search_wider(frame, st.cx, st.cy, st.win, st.side, p.redetect_factor, self._crop,
                            lambda x: self._features(x, st), st.template,
                            lambda n: self.windows.get(n, self.device), p.redetect_window_weight,
                            lambda f, t: pyramid_correlate(f, t, p.scale_step_cells, p.correlation, 1, self.gemm_dtype))
        cand_rel = st.confidence.score(cand.raw)
        if cand.raw > p.redetect_accept * max(raw_at, cand.raw_here, 0.0) and not st.confidence.is_low(cand_rel):
            self._move_to(st, cand.cx, cand.cy)
            return True, cand_rel, cand.raw
        return False, rel, raw_at

    def _learn_appearance(self, st: TrackState, feats: torch.Tensor, resp: torch.Tensor, row: float, col: float,
                          k: float) -> None:
        """On a confident frame: blend the features around the peak into the template (template_update.py)
        and the strongest look-alike elsewhere into the distractors (distractors.py); the template matched
        with is then the first less the second.  row, col: 0-based peak in the chosen scale's upsampled
        map, mapped to the scale-1 map as _update maps it."""
        if not (st.template_model.enabled or st.distractors.enabled):
            return
        ht, wt = st.template.shape[-2:]
        r = peak_cell(st.win / 2.0 + (row + 1 - st.win / 2.0) * k - 1, st.win, st.feat)
        c = peak_cell(st.win / 2.0 + (col + 1 - st.win / 2.0) * k - 1, st.win, st.feat)
        changed = False
        if st.template_model.enabled:
            sample = crop_cells(feats, r, c, ht, wt)
            if sample is not None:
                st.template_model.update(sample)
                changed = True
        if st.distractors.enabled:
            changed |= st.distractors.learn(feats, resp[resp.shape[0] // 2, 0], r, c, ht, wt)
        if changed:
            st.template = st.distractors.apply(st.template_model.current())

    @staticmethod
    def _box_in_window(st: TrackState) -> Tuple[float, float]:
        """The target's (w, h) in the pixels of the side x side window the backbone sees."""
        k = st.side / st.win
        return st.w * k, st.h * k

    @staticmethod
    def _centre_cell(st: TrackState, crop: Tuple[float, float, int], F: int) -> Tuple[Tuple[float, float], float]:
        """((row, col) of the current centre in the F x F map of the window ``crop`` = (cx, cy, win), the
        window's centre being cell (F - 1) / 2), and the side of one cell in rescaled px."""
        cx, cy, win = crop
        cell = win / F
        return ((F - 1) / 2.0 + (st.cy - cy) / cell, (F - 1) / 2.0 + (st.cx - cx) / cell), cell

    def _extent_cells(self, st: TrackState, feats: torch.Tensor, crop: Tuple[float, float, int]) -> Optional[float]:
        """The target's sqrt-area in rescaled px that extent.py measures around the current centre in
        ``feats``, the features of the window ``crop`` = (cx, cy, win) (before calibration)."""
        centre, cell = self._centre_cell(st, crop, feats.shape[-1])
        half = self.params.extent_region / 2.0
        m = extent.measure(feats, st.extent_weights, centre, (half * st.h / cell, half * st.w / cell),
                           self.params.extent_threshold)
        return None if m is None else m * cell

    def _calibrate_extent(self, st: TrackState, combined: torch.Tensor, wx: float, wy: float, side: int) -> None:
        """First frame: the channel weights of the saliency, and what the measurement gives on the given box
        (``combined``: C x F x F features of the first window, centred at (wx, wy), ``side`` px)."""
        centre, cell = self._centre_cell(st, (wx, wy, side), combined.shape[-1])
        surround = (combined, centre, (st.h / cell / 2, st.w / cell / 2)) if self.params.extent_discriminative else ()
        st.extent_weights = extent.channel_weights(st.template, *surround)
        m = self._extent_cells(st, combined, (wx, wy, side))
        st.extent_calib = m / math.sqrt(st.w * st.h) if m else 0.0

    def _size_from_extent(self, st: TrackState, feats: torch.Tensor, crop: Tuple[float, float, int]) -> None:
        """Move log-size extent_lr of the way to the calibrated extent measurement (extent.py)."""
        m = self._extent_cells(st, feats, crop) if st.extent_calib > 0 else None
        if m is None:
            return
        d = math.log(m / st.extent_calib) - 0.5 * math.log(st.w * st.h)
        if self.params.extent_band > 1 and abs(d) > math.log(self.params.extent_band):
            return
        self._resize(st, math.exp(self.params.extent_lr * d))

    def _resize(self, st: TrackState, k: float) -> None:
        """Box and window side times k (spec 5.6), then the size rails."""
        st.w *= k
        st.h *= k
        st.win = max(geo.matlab_round(st.win * k), 8)
        self._bound_size(st)

    def _bound_size(self, st: TrackState) -> None:
        """Safety rails: a lost target's size cannot run away, nor the window."""
        p = self.params
        H, W = st.image_hw
        lo, hi = p.min_target_px, p.max_target_frac * max(H, W)
        if min(st.w, st.h) < lo or max(st.w, st.h) > hi:  # lost target: stop the size from running away
            f = max(lo / min(st.w, st.h), 1.0) if min(st.w, st.h) < lo else hi / max(st.w, st.h)
            st.w, st.h = st.w * f, st.h * f
        st.win = min(st.win, 4 * max(H, W) + st.side)

    def _update(self, st: TrackState, ph: float, pw: float, k: float, scale_lr: Optional[float] = None,
                k_size: Optional[float] = None, frame: Optional[torch.Tensor] = None,
                learn_scale: bool = True) -> None:
        """centre += (peak - win/2) * k; size *= k; window side = round(side * k) (spec 5.6), then the
        safety rails: bounded size, centre kept on the image.  k_size: the size factor when it differs
        from the chosen scale's k (scale_interp).  With a scale filter (scale_estimator="dsst") the size
        factor is the filter's, read at the new centre in ``frame``, and the filter learns the new size
        when ``learn_scale``."""
        p = self.params
        st.cx += (pw - st.win / 2.0) * k
        st.cy += (ph - st.win / 2.0) * k
        scale_lr = p.scale_lr if scale_lr is None else scale_lr
        samples = None
        if st.scale_filter is not None and frame is not None:
            self._move_to(st, st.cx, st.cy)
            with self.timer("scale_filter"):
                k_filter, samples = st.scale_filter.estimate(frame, *self._target_in_frame(st))
            k_pyr = k if k_size is None else k_size   # blended in log-scale with the pyramid's (dsst_weight)
            k = math.exp(p.dsst_weight * math.log(k_filter) + (1.0 - p.dsst_weight) * math.log(k_pyr))
        elif k_size is not None:
            k = k_size
        ks = 1.0 + scale_lr * (k - 1.0)  # == k with the default scale_lr = 1
        self._resize(st, ks)
        H, W = st.image_hw
        if not (math.isfinite(st.cx) and math.isfinite(st.cy)):
            st.cx, st.cy = W / 2.0, H / 2.0
        self._move_to(st, st.cx, st.cy)
        if samples is not None and learn_scale:
            with self.timer("scale_filter"):   # the samples at the new size are the same when it did not change
                st.scale_filter.learn(frame, *self._target_in_frame(st), feats=samples if ks == 1.0 else None)

    @staticmethod
    def _target_in_frame(st: TrackState) -> Tuple[Tuple[float, float], Tuple[float, float]]:
        """((x, y) centre in 0-based pixel indices, (w, h)) of the target in the caller's frame."""
        return (st.cx / st.s0 - 1.0, st.cy / st.s0 - 1.0), (st.w / st.s0, st.h / st.s0)

    @staticmethod
    def _move_to(st: TrackState, cx: float, cy: float) -> None:
        """Set the centre, kept on the (rescaled) image."""
        H, W = st.image_hw
        st.cx, st.cy = min(max(cx, 1.0), float(W)), min(max(cy, 1.0), float(H))

    def box(self) -> List[float]:
        """Current box [x, y, w, h] in the caller's coordinates (spec 5.6: box / s0)."""
        st = self.state
        x, y = st.cx - st.w / 2.0, st.cy - st.h / 2.0
        return [x / st.s0, y / st.s0, st.w / st.s0, st.h / st.s0]
