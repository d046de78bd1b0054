"""The `tadt` command.  Subcommands dispatch to the core and, lazily, to the adapters, so `tadt track`
works where pytracking or vot-trax is not installed.

  tadt track SOURCE --out FILE      one sequence (OTB folder, image folder, video, or `demo`)
  tadt run SEQ_ROOT --out DIR       many OTB-layout sequences, resumable, atomic result files
  tadt eval SEQ_ROOT --results DIR  success AUC / precision table, side by side, and a success plot
  tadt weights                      fetch, verify and cache the VGG16 weights ahead of time
  tadt bench | pytracking | vot     see `tadt <command> --help`
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from .atomicfile import AtomicPath
from .errors import TadtError


def _err(msg: str) -> None:
    print(f"tadt: error: {msg}", file=sys.stderr)


def parse_box(text: str) -> List[float]:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--init {text!r}: expected four numbers x,y,w,h") from None
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"--init {text!r}: expected four numbers x,y,w,h")
    return vals


def build_params(args) -> "TadtParams":
    from . import parameter
    try:
        p = parameter.load(args.param)
    except ValueError as exc:
        raise TadtError(str(exc)) from None
    changes = {}
    if getattr(args, "device", None):
        changes["device"] = args.device
    if getattr(args, "weights", None):
        changes["weights_path"] = args.weights
    if getattr(args, "threads", None):
        changes["num_threads"] = args.threads
    for item in getattr(args, "set", None) or []:
        key, value = parse_setting(item)
        changes[key] = value
    try:
        return p.replace(**changes) if changes else p
    except (TypeError, ValueError) as exc:
        raise TadtError(str(exc)) from None


def parse_setting(item: str):
    """--set KEY=VALUE: VALUE is read as a Python literal when it is one (numbers, tuples, True), else text."""
    import ast
    import dataclasses
    from .params import TadtParams
    if "=" not in item:
        raise TadtError(f"--set {item!r}: expected KEY=VALUE")
    key, raw = item.split("=", 1)
    names = {f.name for f in dataclasses.fields(TadtParams)}
    if key not in names:
        raise TadtError(f"--set {key}: not a TADT parameter; known: {', '.join(sorted(names))}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def make_tracker(args):
    from .tracker import TadtTracker
    return TadtTracker(build_params(args))


def check_out_file(path) -> Path:
    """--out FILE must be a file path (existing or not), not a folder; checked before any tracking."""
    p = Path(path)
    if p.is_dir():
        raise TadtError(f"--out {p} is a folder; give a file name, e.g. {p / 'result.txt'}")
    if p.parent.exists() and not p.parent.is_dir():
        raise TadtError(f"--out {p}: {p.parent} is not a folder")
    return p


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--param", default="default", help="parameter set (see parameter/; default: %(default)s)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="override the parameter set's device (default: the set's, 'auto')")
    p.add_argument("--weights", default=None, help="explicit VGG16 state_dict file")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one parameter of the set, e.g. --set rank_mode=off (repeatable)")


# ---------------------------------------------------------------------------------------------------
def cmd_track(args) -> int:
    from tqdm import tqdm
    from . import metrics
    from .runner import track_frames
    from .sequences import open_source, write_boxes_atomic

    check_out_file(args.out)
    if args.video:
        check_out_file(args.video)
    if args.source == "demo":
        from .synthetic import SyntheticSequence
        seq = SyntheticSequence(n_frames=args.demo_frames)
        frames, gt, n, name = iter(seq), seq.ground_truth(), len(seq), "demo"
    else:
        s = open_source(args.source)
        frames, gt, n, name = s.iter_frames(), s.ground_truth, len(s), s.name
    init = args.init if args.init is not None else (gt[0].tolist() if gt is not None and len(gt) else None)
    if init is None:
        raise TadtError(f"{args.source} has no ground truth; give the first box with --init x,y,w,h")

    tracker = make_tracker(args)
    writer = _VideoOverlay(args.video, gt) if args.video else None
    bar = tqdm(total=n, desc=f"tadt {name}", unit="frame", disable=args.quiet, file=sys.stderr)
    try:
        res = track_frames(tracker, frames, init, on_frame=writer.add if writer else None, progress=bar)
    except BaseException:
        if writer:
            writer.close(ok=False)   # no half-made video left behind
        raise
    finally:
        bar.close()
    if writer:
        writer.close()
    write_boxes_atomic(args.out, res.boxes)
    info = res.init_info
    print(f"{name}: {len(res.boxes)} frames -> {args.out}")
    print(f"  init {res.init_seconds:.2f} s; channels conv4_1={info['channels_conv41']} "
          f"conv4_3={info['channels_conv43']}; device {tracker.device}")
    print(f"  speed {res.fps:.2f} FPS over frames 2..N (tracker time, frame reading excluded)")
    if gt is not None and len(gt) >= len(res.boxes) and len(res.boxes) > 1:
        sc = metrics.evaluate(res.boxes, gt[: len(res.boxes)], start=1)
        print(f"  success AUC {sc['auc']:.3f}, precision@20px {sc['precision']:.3f} (frames 2..N vs ground truth)")
    if args.video:
        print(f"  overlay video -> {args.video}")
    return 0


class _VideoOverlay:
    """Writes frames with the tracked box (green) and ground truth (blue) to a video file, atomically."""

    def __init__(self, path: str, gt=None):
        self.path, self.gt, self.writer, self.tmp = Path(path), gt, None, None

    def add(self, i, image, box) -> None:
        import cv2
        if self.writer is None:
            h, w = image.shape[:2]
            self.tmp = AtomicPath(self.path, suffix=self.path.suffix)
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"))
            self.writer = cv2.VideoWriter(str(self.tmp.path), fourcc, 25.0, (w, h))
            if not self.writer.isOpened():
                raise TadtError(f"cannot open video writer for {self.path}")
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if self.gt is not None and i < len(self.gt):
            x, y, w, h = self.gt[i]
            if all(map(lambda v: v == v, (x, y, w, h))):
                cv2.rectangle(bgr, (int(x), int(y)), (int(x + w), int(y + h)), (255, 0, 0), 1)
        x, y, w, h = box
        cv2.rectangle(bgr, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), (0, 255, 0), 2)
        cv2.putText(bgr, str(i + 1), (5, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2)
        self.writer.write(bgr)

    def close(self, ok: bool = True) -> None:
        """Finish the video (ok) or throw the partial one away."""
        if self.writer is not None:
            self.writer.release()
            self.tmp.commit() if ok else self.tmp.abort()


# ---------------------------------------------------------------------------------------------------
def cmd_run(args) -> int:
    from tqdm import tqdm
    from . import metrics
    from .runner import track_frames
    from .sequences import discover_sequences, write_boxes_atomic

    if args.protocol == "reset" and ((args.workers or 1) != 1 or args.ray_address or args.dataset):
        raise TadtError("--protocol reset runs on one worker over SEQ_ROOT; drop --workers/--ray-address/--dataset")
    if (args.workers is not None and args.workers != 1) or args.ray_address or args.dataset:
        from .fanout import run_fanout
        return run_fanout(args)
    if not args.seq_root:
        raise TadtError("give SEQ_ROOT (a folder of OTB-layout sequences) or --dataset NAME")
    names = [s for s in args.sequences.split(",") if s] if args.sequences else None
    seqs = discover_sequences(args.seq_root, names)
    if not seqs:
        raise TadtError(f"no OTB-layout sequences (<Name>/img + groundtruth_rect.txt) under {args.seq_root}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise TadtError(f"--out {out} is a file; `tadt run` writes one <Name>.txt per sequence into a folder")
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in seqs if args.force or not (out / f"{s.name}.txt").exists()]
    for s in seqs:
        if s not in todo:
            print(f"{s.name}: done already ({out / (s.name + '.txt')}), skipped")
    if not todo:
        return 0
    tracker = make_tracker(args)
    if args.protocol == "reset":
        return _run_reset(tracker, todo, out, args)
    failed = 0
    for s in todo:
        bar = tqdm(total=len(s), desc=s.name, unit="frame", disable=args.quiet, file=sys.stderr)
        try:
            res = track_frames(tracker, s.iter_frames(), s.ground_truth[0], progress=bar)
        except TadtError as exc:
            bar.close()
            _err(f"{s.name}: {exc}")
            failed += 1
            continue
        bar.close()
        write_boxes_atomic(out / f"{s.name}.txt", res.boxes)
        write_boxes_atomic(out / f"{s.name}_time.txt", [[res.init_seconds]] + [[t] for t in res.frame_times],
                           fmt="{:.6f}")
        sc = metrics.evaluate(res.boxes, s.ground_truth, start=1)
        info = res.init_info
        print(f"{s.name}: AUC {sc['auc']:.3f} prec {sc['precision']:.3f} | {res.fps:.2f} FPS, init "
              f"{res.init_seconds:.1f} s | channels conv4_1={info['channels_conv41']} "
              f"conv4_3={info['channels_conv43']}", flush=True)
    return 1 if failed else 0


def _run_reset(tracker, seqs, out: Path, args) -> int:
    """`tadt run --protocol reset`: VOT's supervised protocol (reset_protocol.py); DIR/<Name>.txt holds VOT
    text results (1 init, 2 failure, 0 skipped, else x,y,w,h), DIR/<Name>_time.txt seconds per frame."""
    from tqdm import tqdm
    from . import reset_protocol as rp
    from .atomicfile import atomic_write
    from .sequences import read_frame, write_boxes_atomic
    failed = 0
    for s in seqs:
        bar = tqdm(total=len(s), desc=f"{s.name} (reset)", unit="frame", disable=args.quiet, file=sys.stderr)
        try:
            first = read_frame(s.frames[0])
            wh = (first.shape[1], first.shape[0])
            run = rp.run_reset(tracker, lambda i: first if i == 0 else read_frame(s.frames[i]),
                               s.ground_truth[: len(s)], skip_initialize=args.skip_initialize, image_wh=wh,
                               progress=bar)
        except TadtError as exc:
            _err(f"{s.name}: {exc}")
            failed += 1
            continue
        finally:
            bar.close()
        atomic_write(out / f"{s.name}.txt", "\n".join(rp.format_trajectory(run.trajectory)) + "\n")
        write_boxes_atomic(out / f"{s.name}_time.txt", [[t] for t in run.times], fmt="{:.6f}")
        sc, _ = rp.score_sequence(run.trajectory, s.ground_truth[: len(s)], wh)
        print(f"{s.name}: failures {run.failures}, accuracy {sc.accuracy:.3f}, robustness {sc.robustness:.3f}, "
              f"EAO {sc.eao:.3f} (reset protocol, re-initialised {args.skip_initialize} frames after a failure)",
              flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------------
def cmd_eval(args) -> int:
    from .evaluation import evaluate_folders, format_table, save_success_plot

    names = [s for s in args.sequences.split(",") if s] if args.sequences else None
    folders = [("tadt" if not args.name else args.name, args.results)]
    for spec in args.compare or []:
        if "=" not in spec:
            raise TadtError(f"--compare {spec!r}: expected NAME=DIR")
        n, d = spec.split("=", 1)
        folders.append((n, d))
    if args.protocol == "reset":
        from .evaluation import evaluate_reset_folders, format_reset_table
        print(format_reset_table(evaluate_reset_folders(args.seq_root, folders, names)))
        return 0
    table = evaluate_folders(args.seq_root, folders, names, start=args.start - 1, allow_short=args.allow_short)
    print(format_table(table, start=args.start))
    plot = args.plot or str(Path(args.results) / "success_plot.png")
    save_success_plot(table, plot)
    print(f"success plot -> {plot}")
    return 0


def cmd_weights(args) -> int:
    from .weights import describe, resolve_weights
    w = resolve_weights(args.weights, refresh=args.refresh, allow_download=False if args.offline else None)
    print(describe(w))
    if w.path:
        print(f"file: {w.path}")
    return 0


def _delegate(module: str, argv: List[str]) -> int:
    import importlib
    return importlib.import_module(module).main(argv)


# ---------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tadt", description="TADT visual object tracker (CVPR 2019)")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("track", help="track one sequence, video or image folder")
    p.add_argument("source", help="OTB-layout folder, image folder, video file, or 'demo' (built-in generated sequence)")
    p.add_argument("--out", required=True, help="result file: one x,y,w,h line per frame")
    p.add_argument("--init", type=parse_box, default=None, help="first box x,y,w,h (default: ground truth row 1)")
    p.add_argument("--video", default=None, help="also write an overlay video (.mp4 or .avi)")
    p.add_argument("--demo-frames", type=int, default=60, help="length of the demo sequence")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_common(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("run", help="track many OTB-layout sequences; resumes, writes atomically")
    p.add_argument("seq_root", nargs="?", default=None, help="folder of OTB-layout sequences (or use --dataset)")
    p.add_argument("--out", required=True, help="results folder (DIR/<Name>.txt)")
    p.add_argument("--sequences", default=None, help="comma-separated names (default: all under SEQ_ROOT)")
    p.add_argument("--force", action="store_true", help="re-run sequences that have results")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--protocol", choices=["ope", "reset"], default="ope",
                   help="ope: one pass (OTB, default); reset: VOT's supervised protocol, re-initialised after "
                        "each failure (zero overlap); results in VOT text format")
    p.add_argument("--skip-initialize", type=int, default=5, metavar="N",
                   help="--protocol reset: re-initialise N frames after a failure (VOT's 5)")
    # Scale-out (tadt_plugin/fanout.py, docs/scale.md): any of these runs the sequences on Ray workers.
    p.add_argument("--workers", type=int, default=None,
                   help="Ray workers, one sequence each at a time (default 1; with --ray-address: as many as fit)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS|auto", help="join a running Ray cluster")
    p.add_argument("--cpus-per-worker", type=float, default=None,
                   help="CPUs each worker reserves = its torch threads (default: cores / workers; cluster: 1)")
    p.add_argument("--gpus-per-worker", type=float, default=None, help="GPUs per worker, fractions share one")
    p.add_argument("--retries", type=int, default=2, help="re-runs of a sequence whose worker died (default 2)")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="a pytracking dataset (otb, lasot, got10k_val, uav, nfs, ...) instead of SEQ_ROOT")
    _add_common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("eval", help="OTB success AUC and precision@20, side by side")
    p.add_argument("seq_root")
    p.add_argument("--results", required=True, help="folder with <Name>.txt results")
    p.add_argument("--name", default=None, help="label for --results (default: tadt)")
    p.add_argument("--compare", action="append", metavar="NAME=DIR", help="another result folder (repeatable)")
    p.add_argument("--sequences", default=None, help="comma-separated names (default: those with results)")
    p.add_argument("--start", type=int, default=2, help="first scored frame, 1-based (default 2: frames 2..N)")
    p.add_argument("--plot", default=None, help="success plot PNG (default: RESULTS/success_plot.png)")
    p.add_argument("--protocol", choices=["ope", "reset"], default="ope",
                   help="ope: OTB success/precision (default); reset: failures, accuracy, robustness and EAO of "
                        "`tadt run --protocol reset` results (or the VOT toolkit's text results)")
    p.add_argument("--allow-short", action="store_true",
                   help="score results files with fewer rows than the ground truth (missing frames count as "
                        "failures; the table names them); without it such a file is an error")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("weights", help="fetch, verify and cache the VGG16 weights; say where they came from")
    p.add_argument("--weights", default=None, help="verify this file instead")
    p.add_argument("--refresh", action="store_true", help="fetch and convert again, replacing the cache")
    p.add_argument("--offline", action="store_true", help="do not try torchvision's download")
    p.set_defaults(func=cmd_weights)

    for name, help_ in (("bench", "speed benchmark per stage, with ratios"),
                        ("pytracking", "install into / run in a pytracking checkout"),
                        ("vot", "VOT toolkit workspace and TraX server")):
        sub.add_parser(name, help=help_ + f" (see `tadt {name} --help`)", add_help=False)
    return ap


DELEGATED = {"bench": "tadt_plugin.bench", "pytracking": "tadt_plugin.pytracking.cli",
             "vot": "tadt_plugin.vot_integration.cli"}


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    try:
        if argv and argv[0] in DELEGATED:  # their own parsers handle the rest, options included
            return _delegate(DELEGATED[argv[0]], argv[1:])
        args = ap.parse_args(argv)
        return args.func(args)
    except TadtError as exc:
        _err(str(exc))
        return 2
    except OSError as exc:  # a file we were pointed at: missing, a folder, unreadable, disk full ...
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"{where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # a bug, not bad input: one line still, the traceback on request
        if os.environ.get("TADT_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set TADT_DEBUG=1 for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
