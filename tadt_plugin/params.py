"""One parameter object for the whole tracker, with the authors' defaults (TADT_SPEC.md section 8).

Every adapter (command line, pytracking parameter files, VOT wrapper) maps its own settings onto
:class:`TadtParams`.  Parameters are data: an ablation is a different set of values, never a new
code path.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

RANK_MODES = ("faithful", "trained", "off")
SCALE_MODES = ("faithful", "adaptive")
SCALE_ESTIMATORS = ("pyramid", "dsst")
INPUT_NORMS = ("torchvision", "minus128")
DTYPES = ("auto", "float32", "bfloat16", "float16", "int8")
INIT_DTYPES = ("float32", "same")


@dataclass
class TadtParams:
    # --- device and numerics -------------------------------------------------------------
    device: str = "auto"            # "auto" (CUDA when available), "cpu", "cuda", "cuda:N"
    strict_device: bool = False     # True: asking for CUDA without a GPU is an error, not a fallback
    # backbone precision of the per-frame path (DTYPES).  "auto" (devices.resolve_dtype): bfloat16 on a
    # CPU with native bfloat16, int8 on other x86 CPUs, float32 elsewhere, float16 on CUDA; printed once
    # per process.  "int8" (x86 CPU only, quantized.py): static int8 quantization calibrated on the first
    # frame's window (8 OTB dev sequences, four seeds: mean AUC 0.591 against 0.590 for float32, README "Speed")
    dtype: str = "auto"
    # precision of the first-frame backbone pass that feeds the channel selection and the template:
    # "float32" (default) or "same" (the per-frame dtype).  Measured on the 8 OTB dev sequences: the
    # selection from bfloat16 first-frame features agrees with the float32 one at Jaccard 0.935
    # (conv4_1) and 0.827 (conv4_3, min 0.64), so the first frame stays float32 (README "Speed")
    init_dtype: str = "float32"
    # dtype int8: how many of the first convolutions stay float32 (0 = every one int8, as FX's model;
    # 0 .. 7).  conv1_1 (0.3% of the work) in float32 halves the int8 features' error: the input image is
    # then not quantized to 7 bits (quantized.py has the figures)
    int8_float_convs: int = 1
    num_threads: int = 0            # torch CPU threads; 0 keeps torch's default
    seed: int = 0                   # seeds the regression/ranking initialisation (spec 4.1, A10)

    # --- weights ----------------------------------------------------------------------------
    weights_path: Optional[str] = None   # explicit VGG16 state_dict; else the resolver's order (weights.py)
    weights_search_paths: Tuple[str, ...] = ()  # extra folders to look in (e.g. pytracking network_path)

    # --- backbone input and feature scale (spec 1, 12) ---------------------------------------------
    input_norm: str = "torchvision"  # torchvision mean/std (what these weights were trained with)
    # The authors' regression hyper-parameters (lr 5e-7, init 1e-8, stop 0.02) were tuned for the
    # MatConvNet VGG fed with x-128, whose relu4_x activations are ~30x larger than torchvision's.
    # The regression and ranking branches see the features multiplied by this constant; matching and
    # the balance factor are scale-invariant, so nothing else changes (spec section 12).
    feature_scale: float = 30.0

    # --- geometry (spec 2) -------------------------------------------------------------------------
    min_target_size: float = 44.0
    max_target_size: float = 59.0
    search_factor: float = 3.0       # window base = search_factor * max_target_size = 177 -> 180
    # Rescale every frame whole and crop the window from it, as the authors (and this project before
    # geometry.WindowSampler, which computes only the window's pixels of the same rescaled frame):
    # the reference path `tadt bench --baseline` times; the windows agree up to rounding ties.
    whole_frame_rescale: bool = False

    # --- target-aware selection (spec 4) -------------------------------------------------------------
    channels_conv43: int = 300
    channels_conv41: int = 80
    min_channels_total: int = 250
    balance_top: int = 50
    label_sigma_factor: float = 0.1
    label_exp_factor: float = 0.2
    reg_lr: float = 5e-7
    reg_bias_lr_mult: float = 2.0
    reg_weight_decay: float = 1000.0
    reg_max_steps: int = 100
    reg_stop_loss: float = 0.02
    reg_dead_zone: float = 0.1
    reg_init_scale: float = 1e-8
    # The first-frame regression's correlation and filter gradient (selection.py, same values ~1e-5):
    # "dft": FFT of the features, small dense DFT matrices on the filters' support (the default, the
    # cheapest per step); "fft": full-plane FFTs; "conv": conv2d and its weight gradient, the direct route
    # of the authors' code (the benchmark's baseline).  reg_dtype is the precision of that fit.
    # The stop rule is a threshold on a dead-zoned loss and Adam normalises tiny gradients, so float32
    # rounding alone moves the selected channels: float32 fft and dft against float32 conv agreed only at
    # Jaccard 0.88 / 0.86 on conv4_3 (min 0.66 / 0.64) on the 8 OTB dev sequences, and flipped whole
    # sequences (bfloat16 + float32 dft lost 0.015 mean AUC).  In float64 all three backends select exactly
    # the channels of float32 conv (Jaccard 1.000 per layer on all 8, measured 2026-12-04), so the
    # selection no longer depends on the backend or the CPU's rounding; float64 dft costs ~0.85 s a first
    # frame on a 2-core AVX-512 EPYC (float64 fft 2.7 s, float32 fft 1.6 s, float64 conv 127 s)
    regression_backend: str = "dft"
    reg_dtype: str = "float64"       # "float64" or "float32"
    # The ranking branch as the authors implemented it is a seeded random half of conv4_1 (spec A1); on
    # the 8 OTB dev sequences it scored below leaving it out (mean AUC 0.497 vs 0.547, README), so
    # the default is "off"; the `faithful` parameter set restores it.
    rank_mode: str = "off"           # see RANK_MODES and spec A1
    rank_train_steps: int = 100      # rank_mode="trained" only
    rank_lr: float = 5e-7            # rank_mode="trained" only

    # --- matching (spec 5) -------------------------------------------------------------------------
    scale_mode: str = "faithful"     # "adaptive" uses F/(F+2), 1, F/(F-2) when F != 45 (spec A4)
    scale_step_cells: int = 2
    # scale_count: 3 (the authors') or 5 (their defined, unused 5-scale variant, spec 5.5: levels F +- 2
    # and F +- 4 cells); scale_penalties has one weight per scale, smallest factor first
    scale_count: int = 3
    scale_penalties: Tuple[float, ...] = (0.99, 1.0, 1.0055)
    # True: the penalties are measured on each sequence's first frame instead (scale_calibration.py): each
    # side level's between the least that lets it win where the target is zoomed by its factor and the
    # most that keeps it from winning where the target is not, at scale_calibrate_position (0 = the least)
    scale_calibrate: bool = False
    scale_calibrate_position: float = 0.5
    # The authors add the Hann window with weight 1 (spec 5.4).  With torchvision's features the
    # normalised responses are flatter: distractors come closer to the target's peak (Human3, frame 120:
    # 0.98 against 0.75), so the motion prior gets weight 1.5.  Measured on the 8 dev sequences and
    # checked on 7 held-out ones (README); the `faithful` parameter set uses 1.0.
    window_weight: float = 1.5
    scale_lr: float = 1.0            # size update damping; 1.0 = the authors' direct replacement (spec 5.6)
    # size factor from the parabola through the three scales' penalised peaks instead of the best one's
    # discrete factor (sub-step scale, matching.interpolate_scale); False = the authors' discrete choice
    scale_interp: bool = False
    scale_interp_conf: float = 0.0   # interpolate only on frames of at least this relative confidence
    # where the size comes from: "pyramid" = TADT's penalised choice among the scale levels (spec 5.5);
    # "dsst" = a separate 1-D scale filter on fHOG features at the position TADT found (scale_filter.py,
    # DSST, BMVC 2014), the pyramid then serves the position only.  Its values: scales and step, the
    # filter's learning rate, label width (x sqrt(scales)), regulariser and model area in px
    scale_estimator: str = "pyramid"
    dsst_scales: int = 33
    dsst_step: float = 1.02
    dsst_lr: float = 0.025
    dsst_sigma: float = 0.25
    dsst_lambda: float = 0.01
    dsst_model_area: float = 512.0
    # weight of the scale filter's log size factor against the pyramid's (1: the filter alone)
    dsst_weight: float = 1.0
    # the scale filter learns only on frames of at least this relative confidence (0: on every frame)
    dsst_learn_conf: float = 0.0
    prune_conv43: bool = True        # compute only the selected conv4_3 output channels (spec 7)
    prune_multiple: int = 32         # pad the pruned conv4_3 to a multiple of this many outputs (backbone.py)
    # channels-last activations: oneDNN's max-pooling is ~10x faster in that layout (12 ms -> 1 ms per
    # frame on this CPU); convolutions run at the same speed (measured layer by layer on this CPU)
    channels_last: bool = True
    # CPU with oneDNN: conv + ReLU fused, weights packed once (backbone.VGG16Conv4.prepack; same outputs;
    # bfloat16 VGG16 to conv4_3 24.4 -> 19.5 ms on a 2-core AVX-512/AMX CPU); needs channels_last
    prepack_backbone: bool = True
    correlation: str = "gemm"        # "gemm" (fast on CPU) or "conv" (one conv2d, the original path)
    # precision of the correlation's GEMM (matching.pyramid_correlate): "same" = the per-frame dtype when
    # that is bfloat16 / float16 (float32 for float32 and int8), or "float32".  The per-frame features are
    # bfloat16-rounded already; bfloat16 products (summed in float32 afterwards) take 0.38 instead of 1.5 ms
    # a frame on a CPU with native bfloat16 and tracked the 15 dev sequences alike (mean AUC 0.576 against
    # 0.577, every sequence within 0.01; README "Speed")
    correlation_dtype: str = "same"

    # --- robustness (not in the original; all off here, switched on by the `robust` parameter set) -------
    # Each piece is one value, so an ablation switches one off (README "Robustness").
    # Relative confidence (confidence.py): raw score at the chosen position / running mean over confident
    # frames; a frame under conf_low is a low-confidence frame (conf_low=0: none is, so no re-detection and no scale
    # damping).
    conf_low: float = 0.0
    conf_rate: float = 0.05          # learning rate of that running mean
    # a frame is also low-confidence when the best raw score anywhere in the window beats the score where
    # the Hann motion prior sent the tracker by this ratio (0 = off): appearance and motion disagree
    conf_peak_ratio: float = 0.0
    # re-detection (redetection.py): on low-confidence frames, one extra pass over a window this many times
    # wider (0 = off), weighed with this Hann weight, accepted when its score beats both the frame's own
    # and the current position's in the wider pass by redetect_accept and is itself not a low-confidence score
    redetect_factor: float = 0.0
    redetect_window_weight: float = 0.5
    redetect_accept: float = 1.2
    # template update (template_update.py): blend rate on frames with confidence >= template_conf (0 = off);
    # the first frame's template keeps template_anchor of the weight
    template_lr: float = 0.0
    template_conf: float = 0.9
    template_anchor: float = 0.5
    # motion prediction: the search window is centred on position + motion_momentum * the last confident
    # frame-to-frame displacement (0 = off: TADT centres it on the last position)
    motion_momentum: float = 0.0
    # scale update rate on low-confidence frames (1 = as on any frame, 0 = keep the size)
    low_conf_scale_lr: float = 1.0
    # distractor-aware matching (distractors.py, DaSiamRPN eq. 3): match with template - distractor_weight *
    # the running mean (rate distractor_lr) of the look-alikes found on confident frames, a look-alike being
    # the best place not overlapping the target that scores >= distractor_ratio of it (0 = off, in every set:
    # measured and left out, README "Robustness")
    distractor_weight: float = 0.0
    distractor_ratio: float = 0.5
    distractor_lr: float = 0.1
    # size from the target-aware features' extent (extent.py): on frames with relative confidence >=
    # extent_conf, log-size moves extent_lr of the way to the size that the selected channels' saliency
    # around the new centre measures (0 = off), cells under extent_threshold x its peak dropped
    extent_lr: float = 0.0
    extent_conf: float = 0.8
    extent_threshold: float = 0.3
    extent_band: float = 0.0         # > 1: ignore a measurement more than this factor from the current size
    extent_region: float = 2.0       # the measured region's side, in multiples of the current box's
    extent_discriminative: bool = False   # weigh channels by target mean less surround mean (first frame)

    # colour model (color_model.py, Staple's second learner): the target's and the background's colour
    # histograms (color_bins levels per channel) from the first window, blended at color_lr on confident
    # frames (relative confidence >= template_conf); the position is chosen on (1 - color_weight) x the
    # correlation + color_weight x the mean P(target | colour) over a target-sized box (0 = off)
    color_weight: float = 0.0
    color_bins: int = 16
    color_lr: float = 0.04

    # --- safety rails (not in the original; only bite on a lost target) --------------------------------
    min_target_px: float = 4.0       # smallest target side, rescaled px
    max_target_frac: float = 1.0     # largest target side, fraction of the rescaled image side

    extra: dict = field(default_factory=dict)  # free-form values adapters may carry

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"invalid TADT parameter: {msg}")

        check(self.rank_mode in RANK_MODES, f"rank_mode={self.rank_mode!r}, expected one of {RANK_MODES}")
        check(self.scale_mode in SCALE_MODES, f"scale_mode={self.scale_mode!r}, expected one of {SCALE_MODES}")
        check(self.input_norm in INPUT_NORMS, f"input_norm={self.input_norm!r}, expected one of {INPUT_NORMS}")
        check(self.regression_backend in ("dft", "fft", "conv"), "regression_backend must be 'dft', 'fft' or 'conv'")
        check(self.reg_dtype in ("float32", "float64"), f"reg_dtype={self.reg_dtype!r}, expected 'float32' or 'float64'")
        check(self.prune_multiple >= 1, "prune_multiple must be >= 1")
        check(self.correlation in ("gemm", "conv"), f"correlation={self.correlation!r}, expected 'gemm' or 'conv'")
        check(self.correlation_dtype in ("float32", "same"),
              f"correlation_dtype={self.correlation_dtype!r}, expected 'float32' or 'same'")
        check(self.dtype in DTYPES, f"dtype={self.dtype!r}, expected one of {DTYPES}")
        check(0 <= self.int8_float_convs <= 7, f"int8_float_convs={self.int8_float_convs}, expected 0 .. 7")
        check(self.init_dtype in INIT_DTYPES, f"init_dtype={self.init_dtype!r}, expected one of {INIT_DTYPES}")
        check(0 < self.min_target_size <= self.max_target_size, "need 0 < min_target_size <= max_target_size")
        check(self.feature_scale > 0, "feature_scale must be > 0")
        check(self.scale_estimator in SCALE_ESTIMATORS,
              f"scale_estimator={self.scale_estimator!r}, expected one of {SCALE_ESTIMATORS}")
        check(self.dsst_scales >= 3 and self.dsst_scales % 2 == 1, "dsst_scales must be odd and >= 3")
        check(self.dsst_step > 1.0 and 0.0 < self.dsst_lr <= 1.0 and self.dsst_model_area >= 64,
              "need dsst_step > 1, 0 < dsst_lr <= 1 and dsst_model_area >= 64")
        check(self.scale_count in (3, 5), f"scale_count={self.scale_count}, expected 3 or 5")
        check(len(self.scale_penalties) == self.scale_count,
              f"scale_penalties needs {self.scale_count} values (one per scale), got {len(self.scale_penalties)}")
        check(self.reg_max_steps >= 0 and self.rank_train_steps >= 0, "step counts must be >= 0")
        check(0.0 <= self.conf_low < 1.0, "conf_low must be in [0, 1)")
        check(0.0 < self.conf_rate <= 1.0, "conf_rate must be in (0, 1]")
        check(self.conf_peak_ratio == 0 or self.conf_peak_ratio >= 1, "conf_peak_ratio must be 0 (off) or >= 1")
        check(self.redetect_factor == 0 or self.redetect_factor > 1, "redetect_factor must be 0 (off) or > 1")
        check(0.0 <= self.template_lr <= 1.0 and 0.0 <= self.template_anchor <= 1.0,
              "template_lr and template_anchor must be in [0, 1]")
        check(0.0 <= self.low_conf_scale_lr <= 1.0, "low_conf_scale_lr must be in [0, 1]")
        check(0.0 <= self.scale_calibrate_position <= 1.0, "scale_calibrate_position must be in [0, 1]")
        check(0.0 <= self.color_weight <= 1.0, "color_weight must be in [0, 1]")
        check(2 <= self.color_bins <= 64, "color_bins must be in [2, 64]")
        check(0.0 <= self.color_lr <= 1.0, "color_lr must be in [0, 1]")
        check(0.0 <= self.motion_momentum <= 1.0, "motion_momentum must be in [0, 1]")
        check(self.distractor_weight >= 0 and 0.0 < self.distractor_ratio <= 1.0 and 0.0 < self.distractor_lr <= 1.0,
              "need distractor_weight >= 0 and distractor_ratio, distractor_lr in (0, 1]")
        check(0.0 <= self.extent_lr <= 1.0 and 0.0 < self.extent_threshold < 1.0 and self.extent_region >= 1.0,
              "need extent_lr in [0, 1], extent_threshold in (0, 1) and extent_region >= 1")
        check(self.channels_conv41 >= 0 and self.channels_conv43 > 0, "channel budgets must be positive")

    def replace(self, **changes: Any) -> "TadtParams":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TadtParams":
        """Build from a dict or attribute bag, ignoring keys that are not parameters."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        if "scale_penalties" in kwargs:
            kwargs["scale_penalties"] = tuple(kwargs["scale_penalties"])
        if "weights_search_paths" in kwargs:
            paths = kwargs["weights_search_paths"]
            kwargs["weights_search_paths"] = (paths,) if isinstance(paths, str) else tuple(paths)
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
