"""`tadt bench`: speed per stage, against the backbone limit and against a classic peer (OpenCV CSRT).

Tracks real OTB-layout sequences (``../shared/data/sequences`` style folders, default: the 8 OTB dev
sequences when found, else generated ones) and prints, per frame, the mean time of each stage
(frame read, upload, the rescaled window (crop), backbone, selection, pyramid and correlation, upsampling and peak) and
the first-frame initialisation split (backbone, regression training, ranking, selection).  Two ratios
come from the same run, because these machines are shared and noisy:

* ``ratio_backbone`` = tracker time per frame / bare backbone forward time on the same S x S input
  (the full, unpruned VGG16 to conv4_3: the physical limit of any TADT implementation);
* ``ratio_peer`` = TADT FPS / CSRT FPS on the same frames.  CSRT needs an opencv-contrib wheel: it is
  used in-process when ``cv2.TrackerCSRT_create`` exists, else in another interpreter given with
  ``--peer-python`` (a venv with ``opencv-contrib-python-headless``), else reported as nan.

``--baseline`` also runs the path before the speed work (unpruned conv4_3, float32, contiguous layout,
whole-frame rescale, conv2d correlation, conv2d regression at initialisation) on the same frames and prints the
speed-up and the selected channels' Jaccard against it; ``--fp32`` adds the configuration in float32 (what
``dtype=auto`` replaces), ``--bf16`` in reduced precision, ``--compare-param NAME`` another parameter set
(``cost_vs_param`` = time per frame of ``--param`` / that of NAME, e.g. robust against plain).  The last
line is machine-readable ``key=value`` pairs, ending
``device=... dtype=<chosen> cpu_capability=<...> speedup_vs_baseline=...``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

DEV_SEQUENCES = ("Crossing", "Diving", "DragonBaby", "FaceOcc1", "Human3", "MotorRolling", "Skiing", "Toy")
STAGES = ("read", "upload", "crop", "backbone", "selection", "pyramid_correlation", "upsample_peak",
          "scale_filter", "extent", "color")
INIT_STAGES = ("init_backbone", "init_regression", "init_ranking", "init_quantize", "init_scale_calibration",
               "init_selection", "init_total")

_PEER_SCRIPT = r"""
import json, sys, time, cv2
paths, box = json.loads(sys.argv[1]), json.loads(sys.argv[2])
imgs = [cv2.imread(p) for p in paths]
t = cv2.TrackerCSRT_create(); t.init(imgs[0], tuple(int(round(v)) for v in box))
t0 = time.perf_counter()
for im in imgs[1:]:
    t.update(im)
print(json.dumps({"seconds": time.perf_counter() - t0, "frames": len(imgs) - 1}))
"""


def default_sequences() -> List[Path]:
    here = Path(__file__).resolve().parents[1]
    for root in (os.environ.get("TADT_SHARED_DATA"), here.parent / "shared" / "data"):
        if root and (Path(root) / "sequences").is_dir():
            found = [Path(root) / "sequences" / n for n in DEV_SEQUENCES if (Path(root) / "sequences" / n).is_dir()]
            if found:
                return found
    return []


def _frames_and_gt(path: Optional[Path], max_frames: int):
    from .sequences import open_source, read_frame
    from .synthetic import SyntheticSequence
    if path is None:
        seq = SyntheticSequence(n_frames=max_frames or 60)
        return "generated", list(seq), seq.ground_truth(), None
    s = open_source(path)
    frames = s.frames[: max_frames or None]
    t = time.perf_counter()
    imgs = [read_frame(p) for p in frames]
    read_s = (time.perf_counter() - t) / len(imgs)
    return s.name, imgs, s.ground_truth[: len(imgs)], (read_s, [str(p) for p in frames])


def peer_fps(paths: List[str], box, peer_python: Optional[str]) -> float:
    """CSRT frames per second on the same frames (nan when no opencv-contrib is available)."""
    try:
        import cv2
        if hasattr(cv2, "TrackerCSRT_create") and not peer_python:
            imgs = [cv2.imread(p) for p in paths]
            t = cv2.TrackerCSRT_create()
            t.init(imgs[0], tuple(int(round(v)) for v in box))
            t0 = time.perf_counter()
            for im in imgs[1:]:
                t.update(im)
            return (len(imgs) - 1) / (time.perf_counter() - t0)
    except Exception:
        pass
    if not peer_python:
        return float("nan")
    r = subprocess.run([peer_python, "-c", _PEER_SCRIPT, json.dumps(paths), json.dumps(list(map(float, box)))],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"peer CSRT failed in {peer_python}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return float("nan")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["frames"] / d["seconds"]


def bare_backbone_seconds(tracker, side: int, repeats: int = 10, budget_s: float = 1.0) -> float:
    """Full VGG16 to relu4_3 (unpruned) on an S x S input, same device and precision as the tracker
    (dtype int8: an unpruned int8 copy, quantized once per tracker): the mean of up to ``repeats``
    passes after two warm-up passes, stopping after 3 once ``budget_s`` is spent (an emulated bfloat16
    pass takes ~1.5 s on an AVX2 CPU: 10 of them per sequence would dominate the benchmark's time)."""
    import torch
    x = torch.rand(1, 3, side, side, device=tracker.device) * 255
    net = tracker.net
    if getattr(tracker, "int8", False):
        if getattr(tracker, "_bench_bare_int8", None) is None:
            from .quantized import quantize_backbone
            tracker._bench_bare_int8 = quantize_backbone(net, net.conv4_3.weight, net.conv4_3.bias, [x],
                                                         float_convs=tracker.params.int8_float_convs)
        net = tracker._bench_bare_int8
    with torch.inference_mode():
        for _ in range(2):
            net(x)
        tracker.timer._sync()
        t = time.perf_counter()
        done = 0
        while done < repeats and (done < 3 or time.perf_counter() - t < budget_s):
            f41, f43 = net(x)
            f43.sum().item()   # each pass finished (a device queue is drained) before the clock is read
            done += 1
    return (time.perf_counter() - t) / done


class _Acc:
    """Accumulates one configuration's timings over sequences."""

    def __init__(self, label, tracker):
        self.label, self.tracker = label, tracker
        self.totals = {k: 0.0 for k in STAGES}
        self.init = {k: 0.0 for k in INIT_STAGES}
        self.frames = self.track_time = self.bb_time = 0.0
        self.aucs, self.n_seq = [], 0
        self.redetect_passes = 0
        self.selections = []  # (conv4_1 set, conv4_3 set) per sequence

    def result(self) -> Dict[str, float]:
        n = max(self.frames, 1)
        out = {f"ms_{k}": 1000 * self.totals[k] / n for k in STAGES}
        out.update({f"s_{k}": self.init[k] / max(self.n_seq, 1) for k in INIT_STAGES})
        out.update({"fps": self.frames / self.track_time, "ms_per_frame": 1000 * self.track_time / n,
                    "ms_bare_backbone": 1000 * self.bb_time / n, "ratio_backbone": self.track_time / self.bb_time,
                    "mean_auc": float(np.mean(self.aucs)), "frames": self.frames,
                    "redetect_frac": self.redetect_passes / n,
                    "device": str(self.tracker.device), "dtype": self.tracker.dtype_name})
        return out


def run_configs(configs, seqs, max_frames: int, peer_python=None) -> Dict[str, Dict[str, float]]:
    """Track every sequence with every configuration, interleaved sequence by sequence, so that machine
    load affects all configurations alike.  configs: list of (label, TadtParams)."""
    from . import metrics
    from .tracker import TadtTracker
    accs = []
    for label, params in configs:
        t = TadtTracker(params)
        t.timer.enabled = True
        accs.append(_Acc(label, t))
    peer_frames = peer_time = 0.0
    for path in seqs:
        name, imgs, gt, read = _frames_and_gt(path, max_frames)
        n = len(imgs) - 1
        for acc in accs:
            tr = acc.tracker
            tr.initialize(imgs[0], gt[0])
            acc.selections.append((set(tr.state.idx41.tolist()), set(tr.state.idx43.tolist())))
            for k in INIT_STAGES:
                acc.init[k] += tr.state.timings.get(k, 0.0)
            tr.timer.reset()
            boxes = [gt[0]]
            t = time.perf_counter()
            for im in imgs[1:]:
                boxes.append(tr.track(im)[0])
            dt = time.perf_counter() - t
            acc.frames += n
            acc.track_time += dt
            acc.n_seq += 1
            acc.redetect_passes += tr.redetect_passes
            for k in STAGES[1:]:
                acc.totals[k] += tr.timer.totals.get(k, 0.0)
            acc.totals["read"] += (read[0] if read else 0.0) * n
            acc.bb_time += bare_backbone_seconds(tr, tr.state.side) * n
            acc.aucs.append(metrics.evaluate(np.asarray(boxes), gt)["auc"])
            print(f"  [{acc.label}] {name}: {n / dt:.2f} FPS, init {tr.state.timings['init_total']:.2f} s, "
                  f"AUC {acc.aucs[-1]:.3f}", file=sys.stderr, flush=True)
        if read:
            fps = peer_fps(read[1], gt[0], peer_python)
            if np.isfinite(fps):
                peer_frames += n
                peer_time += n / fps
    out = {}
    for acc in accs:
        r = acc.result()
        if accs[-1].label == "baseline":  # selected channels against the baseline's, mean Jaccard per layer
            for layer, name in ((0, "conv41"), (1, "conv43")):
                per_seq = [len(a[layer] & b[layer]) / max(len(a[layer] | b[layer]), 1)
                           for a, b in zip(acc.selections, accs[-1].selections)]
                r[f"jaccard_{name}_vs_baseline"] = float(np.mean(per_seq))
                r[f"jaccard_{name}_min_vs_baseline"] = float(np.min(per_seq))
        r["peer_fps"] = peer_frames / peer_time if peer_time else float("nan")
        r["ratio_peer"] = r["fps"] / r["peer_fps"] if peer_time else float("nan")
        out[acc.label] = r
    return out


def rss_mb() -> float:
    """Current resident set size of this process in MB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def long_run(params, n_frames: int, checkpoints=(1000, 10000), window: int = 100) -> Dict[str, float]:
    """Track a generated sequence of n_frames (frames made on the fly, so the input costs no memory);
    report RSS and peak RSS at each checkpoint, and FPS over the first and the last `window` frames."""
    from .synthetic import SyntheticSequence
    from .tracker import TadtTracker
    seq = SyntheticSequence(n_frames=n_frames, name="long")
    tracker = TadtTracker(params)
    tracker.initialize(seq.frame(0), seq.box(0))
    out: Dict[str, float] = {}
    times = []
    for i in range(1, n_frames):
        img = seq.frame(i)
        t = time.perf_counter()
        box, _ = tracker.track(img)
        times.append(time.perf_counter() - t)
        if not np.all(np.isfinite(box)):
            raise RuntimeError(f"non-finite box at frame {i + 1}")
        if (i + 1) in checkpoints or i + 1 == n_frames:
            out[f"rss_mb_{i + 1}"] = rss_mb()
            out[f"peak_rss_mb_{i + 1}"] = peak_rss_mb()
            print(f"  frame {i + 1}: RSS {out[f'rss_mb_{i + 1}']:.0f} MB, peak {out[f'peak_rss_mb_{i + 1}']:.0f} MB, "
                  f"last {window} frames {window / sum(times[-window:]):.2f} FPS", file=sys.stderr, flush=True)
    out["fps_first"] = min(window, len(times)) / sum(times[:window])
    out["fps_last"] = min(window, len(times)) / sum(times[-window:])
    out["frames"] = n_frames
    return out


def main(argv=None) -> int:
    from . import parameter
    from .cli import parse_setting
    from .params import TadtParams
    ap = argparse.ArgumentParser(prog="tadt bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--sequences", nargs="*", default=None, help="OTB-layout folders (default: the dev set)")
    ap.add_argument("--frames", type=int, default=0, help="at most this many frames per sequence (0: all)")
    ap.add_argument("--param", default="default")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", default=[])
    ap.add_argument("--baseline", action="store_true",
                    help="also time the path before the speed work: unpruned conv4_3, float32, contiguous layout, "
                         "whole-frame rescale, conv2d correlation, conv2d regression at initialisation")
    ap.add_argument("--bf16", action="store_true", help="also time reduced precision (bfloat16 on CPU, float16 on CUDA)")
    ap.add_argument("--fp32", action="store_true",
                    help="also time the configuration with dtype=float32 (what `dtype=auto` replaces where it picks less)")
    ap.add_argument("--int8", action="store_true",
                    help="also time the configuration with dtype=int8 (CPU: static int8 quantization, quantized.py)")
    ap.add_argument("--compare-param", metavar="NAME", default=None,
                    help="also time parameter set NAME on the same frames, interleaved, and print "
                         "cost_vs_param = this set's time per frame / NAME's (e.g. --param robust --compare-param plain)")
    ap.add_argument("--peer-python", default=os.environ.get("TADT_PEER_PYTHON"),
                    help="interpreter with opencv-contrib for the CSRT peer")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--long", type=int, default=0, metavar="N",
                    help="instead: track a generated N-frame sequence and report memory and FPS drift")
    args = ap.parse_args(argv)

    params: TadtParams = parameter.load(args.param).replace(device=args.device, num_threads=args.threads)
    for item in args.set:
        k, v = parse_setting(item)
        params = params.replace(**{k: v})
    if args.long:
        r = long_run(params, args.long)
        marks = sorted(int(k.rsplit("_", 1)[1]) for k in r if k.startswith("rss_mb_"))
        print(f"long run: {args.long} generated frames; " + "; ".join(
            f"frame {m}: RSS {r[f'rss_mb_{m}']:.0f} MB (peak {r[f'peak_rss_mb_{m}']:.0f} MB)" for m in marks)
            + f"; FPS first 100 {r['fps_first']:.2f}, last 100 {r['fps_last']:.2f}")
        print(" ".join(f"{k}={v:.4g}" for k, v in r.items()))
        return 0
    seqs = [Path(s) for s in args.sequences] if args.sequences else default_sequences()
    if not seqs:
        seqs = [None]
        print("no sequences found: benchmarking a generated sequence", file=sys.stderr)
    from .sequences import open_source
    for s in seqs:   # a bad folder is reported before any tracker is built
        if s is not None:
            open_source(s)
    configs = [("config", params)]
    if args.bf16:
        configs.append(("bf16", params.replace(dtype="bfloat16" if params.device != "cuda" else "float16")))
    if args.fp32:
        configs.append(("fp32", params.replace(dtype="float32")))
    if args.int8:
        configs.append(("int8", params.replace(dtype="int8")))
    if args.compare_param:
        other = parameter.load(args.compare_param).replace(device=args.device, num_threads=args.threads)
        configs.append((args.compare_param, other))
    if args.baseline:
        configs.append(("baseline", params.replace(prune_conv43=False, dtype="float32", whole_frame_rescale=True,
                                                   correlation="conv", channels_last=False, prepack_backbone=False,
                                                   regression_backend="conv", reg_dtype="float32")))
    results = run_configs(configs, seqs, args.frames, args.peer_python)
    res = results["config"]
    print(f"TADT benchmark: {len(seqs)} sequence(s), {int(res['frames'])} tracked frames per configuration, "
          f"device {res['device']}, param {args.param} {' '.join(args.set)}")
    for label, r in results.items():
        # scale_estimator="dsst", extent_lr > 0 and color_weight > 0 only
        shown = [k for k in STAGES if k not in ("scale_filter", "extent", "color") or r["ms_" + k] > 0]
        print(f"[{label}] per frame (ms): " + ", ".join(f"{k} {r['ms_' + k]:.1f}" for k in shown)
              + f" | total {r['ms_per_frame']:.1f} (bare backbone {r['ms_bare_backbone']:.1f}; "
              f"re-detection passes on {100 * r['redetect_frac']:.1f}% of frames, their time is in crop and backbone)")
        print(f"[{label}] first frame (s): " + ", ".join(f"{k[5:]} {r['s_' + k]:.2f}" for k in INIT_STAGES))
        print(f"[{label}] FPS {r['fps']:.2f}, ratio_backbone {r['ratio_backbone']:.3f}, mean AUC {r['mean_auc']:.3f}"
              + (f", selected channels vs baseline (Jaccard) conv4_1 {r['jaccard_conv41_vs_baseline']:.3f} "
                 f"conv4_3 {r['jaccard_conv43_vs_baseline']:.3f} (min over sequences {r['jaccard_conv41_min_vs_baseline']:.3f}, "
                 f"{r['jaccard_conv43_min_vs_baseline']:.3f})" if "jaccard_conv41_vs_baseline" in r else "")
              + f", dtype {r['dtype']}")
    print(f"CSRT FPS {res['peer_fps']:.2f}")
    if "baseline" in results:
        res["speedup_vs_baseline"] = res["fps"] / results["baseline"]["fps"]
        res["auc_minus_baseline"] = res["mean_auc"] - results["baseline"]["mean_auc"]
        res["baseline_fps"] = results["baseline"]["fps"]
        res["baseline_s_init"] = results["baseline"]["s_init_total"]
        res["jaccard_conv41"] = res["jaccard_conv41_vs_baseline"]
        res["jaccard_conv43"] = res["jaccard_conv43_vs_baseline"]
        res["jaccard_conv41_min"] = res["jaccard_conv41_min_vs_baseline"]
        res["jaccard_conv43_min"] = res["jaccard_conv43_min_vs_baseline"]
    if "bf16" in results:
        res["bf16_fps"] = results["bf16"]["fps"]
        res["bf16_auc"] = results["bf16"]["mean_auc"]
        res["bf16_speedup"] = results["bf16"]["fps"] / res["fps"]
    if "fp32" in results:
        res["fp32_fps"] = results["fp32"]["fps"]
        res["fp32_auc"] = results["fp32"]["mean_auc"]
        res["fp32_s_init"] = results["fp32"]["s_init_total"]
        res["speedup_vs_fp32"] = res["fps"] / results["fp32"]["fps"]
    if "int8" in results:
        res["int8_fps"] = results["int8"]["fps"]
        res["int8_auc"] = results["int8"]["mean_auc"]
        res["int8_s_init"] = results["int8"]["s_init_total"]
        res["int8_speedup"] = results["int8"]["fps"] / res["fps"]
        if "fp32" in results:
            res["int8_vs_fp32"] = results["int8"]["fps"] / results["fp32"]["fps"]
        if "baseline" in results:
            res["int8_vs_baseline"] = results["int8"]["fps"] / results["baseline"]["fps"]
    if args.compare_param:
        other = results[args.compare_param]
        res["cost_vs_param"] = res["ms_per_frame"] / other["ms_per_frame"]
        res["auc_minus_param"] = res["mean_auc"] - other["mean_auc"]
        print(f"[{args.param} vs {args.compare_param}] time per frame ratio {res['cost_vs_param']:.3f}, "
              f"mean AUC {res['mean_auc']:.3f} vs {other['mean_auc']:.3f}")
    keys = ["fps", "ratio_backbone", "ratio_peer", "ms_per_frame", "ms_bare_backbone", "s_init_total", "mean_auc",
            "auc_minus_baseline", "baseline_fps", "baseline_s_init", "jaccard_conv41", "jaccard_conv43",
            "jaccard_conv41_min", "jaccard_conv43_min", "bf16_fps", "bf16_auc", "bf16_speedup", "fp32_fps", "fp32_auc",
            "fp32_s_init", "speedup_vs_fp32", "int8_fps", "int8_auc", "int8_s_init", "int8_speedup", "int8_vs_fp32",
            "int8_vs_baseline", "cost_vs_param", "auc_minus_param", "redetect_frac"]
    from .devices import cpu_capability
    print(" ".join(f"{k}={res[k]:.4g}" for k in keys if k in res) + f" device={res['device']}"
          + f" dtype={res['dtype']} cpu_capability={cpu_capability()}"
          + (f" speedup_vs_baseline={res['speedup_vs_baseline']:.4g}" if "speedup_vs_baseline" in res else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
