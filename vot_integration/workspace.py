"""`tadt vot workspace`: a ready VOT toolkit workspace for TADT, fully offline.

Writes ``config.yaml``, a local ``stack.yaml`` with no ``dataset`` key (so nothing is downloaded)
holding the unsupervised (OTB-style), supervised (reset, EAO) and multistart experiments with
analyses sized to the sequences present, a ``trackers.ini`` entry ``[TADT]`` that runs this
installation's TraX server with its absolute interpreter path, and the sequences converted from OTB
layout (or copied from VOT layout) with ``anchor.value`` for multistart.  Running it again adds
sequences; it never deletes anything.
"""
from __future__ import annotations

import configparser
import io
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List, Optional

import cv2

from tadt_plugin.atomicfile import atomic_dir, atomic_write
from tadt_plugin.errors import TadtError
from tadt_plugin.reset_protocol import eao_interval
from tadt_plugin.sequences import find_ground_truth, list_images, load_boxes

DEFAULT_TIMEOUT = 300  # seconds per reply: VGG16 start-up and first-frame selection on a slow CPU


def tadt_tracker_entry(param: str = "default", device: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT,
                       threads: Optional[int] = None) -> dict:
    cmd = [sys.executable, "-m", "tadt_plugin.vot_integration.server", "--param", param]
    if device:
        cmd += ["--device", device]
    entry = {"label": "TADT" if param == "default" else f"TADT ({param})", "protocol": "trax",
             "command": " ".join(shlex.quote(c) for c in cmd), "timeout": str(timeout)}
    if threads:
        entry["env_OMP_NUM_THREADS"] = str(threads)
    return entry


def csrt_tracker_entry(python: str, timeout: int = 60) -> dict:
    """Example second tracker: OpenCV CSRT over TraX (needs opencv-contrib in `python`'s environment)."""
    script = Path(__file__).with_name("csrt_server.py")
    return {"label": "OpenCV CSRT", "protocol": "trax",
            "command": " ".join(shlex.quote(c) for c in (python, str(script))), "timeout": str(timeout)}


def check_csrt_python(python: str) -> None:
    """The CSRT example entry needs vot-trax and an opencv-contrib wheel in `python`'s environment: check it
    before writing the entry, so the toolkit does not find out in the middle of an evaluation."""
    fix = (f"install them with `{python} -m pip install opencv-contrib-python-headless vot-trax`, or make a "
           f"toolkit venv that has them with `tadt vot toolkit-venv DIR`")
    script = Path(__file__).with_name("csrt_server.py")
    try:
        r = subprocess.run([python, str(script), "--check"], capture_output=True, text=True, timeout=120)
    except OSError as exc:
        raise TadtError(f"--with-csrt: cannot run {python}: {exc.strerror}") from exc
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["failed"])[-1]
        raise TadtError(f"--with-csrt: {python} cannot run the CSRT example ({why}); {fix}")


def write_trackers_ini(path: Path, name: str, entry: dict, replace: bool = True) -> None:
    """Add (or update) one section of a trackers.ini, keeping every other section."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.optionxform = str
    if path.exists():
        cfg.read(path)
    if cfg.has_section(name) and not replace:
        return
    if cfg.has_section(name):
        cfg.remove_section(name)
    cfg.add_section(name)
    for k, v in entry.items():
        cfg.set(name, k, v)
    buf = io.StringIO()
    cfg.write(buf)
    atomic_write(path, buf.getvalue())


def _seq_length(seq_dir: Path) -> int:
    meta = seq_dir / "sequence"
    for line in meta.read_text().splitlines():
        if line.startswith("length="):
            return int(line.split("=", 1)[1])
    return len(list((seq_dir / "color").iterdir()))


def stack_yaml(lengths: List[int]) -> str:
    """Experiments and analyses sized to the sequences (EAO intervals must fit their lengths)."""
    low, high = eao_interval(lengths)   # the same interval `tadt eval --protocol reset` uses
    return f"""title: TADT offline stack (local sequences, nothing downloaded)
experiments:
  baseline:
    type: unsupervised
    repetitions: 1
    analyses:
      - type: average_accuracy
        name: accuracy
        burnin: 1
      - type: average_success_plot
        name: success
  reset:
    type: supervised
    repetitions: 1
    skip_initialize: 5
    analyses:
      - type: supervised_average_ar
        name: ar
        sensitivity: 30
      - type: supervised_eao_score
        name: eao
        low: {low}
        high: {high}
      - type: supervised_eao_curve
        name: eaocurve
  multistart:
    type: multistart
    analyses:
      - type: multistart_average_ar
        name: ar
      - type: multistart_eao_score
        name: eao
        low: {low}
        high: {high}
      - type: multistart_eao_curve
        name: eaocurve
        high: {high}
"""


def anchor_values(n: int) -> List[str]:
    """Multistart anchors: forward from frame 1 and from the middle, backward from the last frame."""
    v = ["0"] * n
    v[0] = "1"
    if n >= 20:
        v[n // 2] = "1"
    v[n - 1] = "-1" if n > 1 else "1"
    return v


def add_sequence(src: Path, seq_root: Path, copy_frames: bool = False) -> str:
    """Convert an OTB-layout sequence (or copy a VOT-layout one) into seq_root/<name>."""
    if not Path(src).is_dir():
        raise TadtError(f"--sequence {src} {'is not a folder' if Path(src).exists() else 'does not exist'}")
    src = Path(src).resolve()
    name = src.name
    dest = seq_root / name
    if (src / "sequence").is_file():  # already VOT layout
        if not dest.exists():
            shutil.copytree(src, dest, symlinks=True)
        return name
    img_dir = src / "img" if (src / "img").is_dir() else src
    frames = list_images(img_dir)
    gt_path = find_ground_truth(src)
    if not frames or gt_path is None:
        raise TadtError(f"{src} is neither an OTB-layout (img/ + groundtruth_rect.txt) nor a VOT-layout sequence")
    gt = load_boxes(gt_path)
    if len(gt) < len(frames):
        raise TadtError(f"{gt_path} has {len(gt)} boxes for {len(frames)} frames")
    first = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise TadtError(f"cannot read {frames[0]}")
    h, w = first.shape[:2]
    ext = frames[0].suffix.lower()
    with atomic_dir(dest) as tmp:
        (tmp / "color").mkdir()
        for i, f in enumerate(frames, 1):
            target = tmp / "color" / f"{i:08d}{ext}"
            if copy_frames:
                shutil.copy2(f, target)
            else:
                target.symlink_to(f.resolve())
        (tmp / "groundtruth.txt").write_text("".join(f"{x:.2f},{y:.2f},{bw:.2f},{bh:.2f}\n"
                                                     for x, y, bw, bh in gt[: len(frames)]))
        (tmp / "anchor.value").write_text("\n".join(anchor_values(len(frames))) + "\n")
        (tmp / "sequence").write_text(f"channels.color=color/%08d{ext}\nformat=default\nfps=30\nname={name}\n"
                                      f"width={w}\nheight={h}\nlength={len(frames)}\n")
    return name


def create_workspace(ws: Path, sequences: Iterable[Path], stack: Optional[str] = None, param: str = "default",
                     device: Optional[str] = None, csrt_python: Optional[str] = None, threads: Optional[int] = None,
                     copy_frames: bool = False) -> List[str]:
    ws = Path(ws)
    if csrt_python:
        check_csrt_python(csrt_python)
    seq_root = ws / "sequences"
    seq_root.mkdir(parents=True, exist_ok=True)
    (ws / "results").mkdir(exist_ok=True)
    listing = seq_root / "list.txt"
    names = [n for n in (listing.read_text().split() if listing.exists() else []) if n]
    for src in sequences:
        n = add_sequence(Path(src), seq_root, copy_frames)
        if n not in names:
            names.append(n)
    if not names:
        raise TadtError("the workspace has no sequences: give at least one --sequence PATH")
    atomic_write(listing, "\n".join(names) + "\n")
    if stack is None or not stack:
        atomic_write(ws / "stack.yaml", stack_yaml([_seq_length(seq_root / n) for n in names]))
        stack_ref = "./stack.yaml"
    elif Path(stack).is_file():
        shutil.copy(stack, ws / "stack.yaml")
        stack_ref = "./stack.yaml"
    else:
        stack_ref = stack  # an integrated stack name: the toolkit may want to download its dataset
    atomic_write(ws / "config.yaml", f"registry:\n- ./trackers.ini\nstack: {stack_ref}\nsequences: sequences\n")
    ini = ws / "trackers.ini"
    write_trackers_ini(ini, "TADT", tadt_tracker_entry(param, device, threads=threads))
    if csrt_python:
        write_trackers_ini(ini, "CSRT", csrt_tracker_entry(csrt_python))
    return names


def summarize_analysis(path: Path) -> str:
    """Readable figures from `vot analysis --format json`: per experiment and tracker, accuracy,
    robustness and EAO (whichever the stack computed).  In the reset (supervised) experiment the
    toolkit's robustness is a number of failures per sequence (lower is better); in multistart it is the
    fraction of frames tracked before failing (higher is better)."""
    import json
    d = json.loads(Path(path).read_text())
    trackers = list(d.get("trackers", {}).keys())
    lines = []
    for exp, block in d.get("results", {}).items():
        supervised = block.get("type", "").endswith("SupervisedExperiment")
        analyses = block.get("parameters", {}).get("analyses", [])
        for a, res in zip(analyses, block.get("results", [])):
            kind = a.get("type", "").rsplit(".", 1)[-1]
            for tr, v in zip(trackers, res):
                if kind in ("AverageAccuracy",):
                    lines.append(f"{exp:11s} {tr:10s} accuracy {v[0]:.3f}")
                elif kind == "AverageAccuracyRobustness" and supervised:
                    # the supervised (reset) R is a failure count, length-weighted mean per sequence
                    lines.append(f"{exp:11s} {tr:10s} accuracy {v[0]:.3f} failures {v[1]:.2f} per sequence")
                elif kind == "AverageAccuracyRobustness":
                    lines.append(f"{exp:11s} {tr:10s} accuracy {v[0]:.3f} robustness {v[1]:.3f}")
                elif kind == "EAOScore":
                    lines.append(f"{exp:11s} {tr:10s} EAO {v[0]:.3f}")
    return "\n".join(lines)
