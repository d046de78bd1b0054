"""`tadt pytracking compare`: pytracking's own results table and success/precision plots for tadt and every
other tracker with results in the checkout, on a local dataset; external per-frame results can be
imported as a named tracker first.

    tadt pytracking compare --dataset_name otb_local
    tadt pytracking compare --dataset_name folder --folder DIR --import-results TADT_authors=DIR2

* Trackers: every ``<results_path>/<name>/<param>[_<runid>]/`` folder holding ``<seq>.txt`` files for the
  dataset's sequences (``--trackers name/param,...`` picks some; tadt's sets are listed first).
* Sequences: the dataset's (``--sequences`` narrows them) for which *every* chosen tracker has a result;
  the others are listed and left out, so all rows of the table are scored on the same sequences.
* Scoring is pytracking's: ``print_results`` (AUC, OP50, OP75, precision, normalised precision, in %) and
  ``plot_results`` (``success_plot.pdf``, ``precision_plot.pdf``) under ``<result_plot_path>/<report>/``,
  always recomputed (pytracking otherwise reuses a cached ``eval_data.pkl`` with a weak validity check).
  pytracking scores frame 1 too (set to the ground truth), i.e. ``tadt eval --start 1``.
* ``--import-results NAME[/PARAM]=DIR`` (repeatable, or comma separated) copies ``DIR/<seq>.txt`` (also
  ``<seq>_<anything>.txt``; x,y,w,h per line, comma/tab/space separated, one line per ground-truth frame:
  a line that is not a box or a file of another length is an error naming the file) into
  ``<results_path>/NAME/PARAM/`` (PARAM ``default``) as tab-separated floats, for the dataset's sequences,
  with a ``.tadt-import.json`` note so it is shown as ``NAME``.  VOT status lines (0/1/2) become
  ``0 0 0 0``, which pytracking's analysis replaces by the previous box.
* pytracking's ``plot_results`` imports ``tikzplotlib`` (broken with matplotlib >= 3.8) at module level;
  an empty stand-in module is used when the real one does not import.  Plots use matplotlib's Agg backend.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..atomicfile import atomic_write
from ..errors import TadtError
from .checkout import activate, find_checkout, stub_tikzplotlib

IMPORT_NOTE = ".tadt-import.json"
RUNID_RE = re.compile(r"^(.*)_(\d{3})$")
AUX_SUFFIXES = ("_time", "_object_presence_scores")


def _prepare(pytracking: Optional[str], folder: Optional[str]):
    root = activate(find_checkout(pytracking))
    local = root / "pytracking" / "evaluation" / "local.py"
    if not local.is_file():
        raise TadtError(f"{local} does not exist; create it with `tadt pytracking install {root} --local-py`")
    import matplotlib
    matplotlib.use("Agg")
    stub_tikzplotlib()
    from . import datasets
    if folder:
        folder = os.path.abspath(folder)
        os.environ[datasets.FOLDER_ENV] = folder
    datasets.register(folder)
    return root


def _load_dataset(name: str, sequences: Optional[Sequence[str]]):
    from pytracking.evaluation import get_dataset
    from pytracking.evaluation.data import SequenceList
    try:
        dataset = get_dataset(name)
    except ValueError as exc:
        raise TadtError(str(exc)) from None
    if sequences:
        have = {s.name: s for s in dataset}
        unknown = [s for s in sequences if s not in have]
        if unknown:
            raise TadtError(f"sequence(s) {', '.join(unknown)} not in dataset '{name}' "
                            f"(it has: {', '.join(have)})")
        dataset = SequenceList([have[s] for s in sequences])
    return dataset


# ---------------------------------------------------------------------------------------------------
def import_results(name_param: str, src: str, dataset, results_path: str, force: bool = False) -> Tuple[str, str, int]:
    """Copy DIR's per-sequence result files into results_path/NAME/PARAM as a pytracking result folder."""
    from ..evaluation import find_result
    from ..sequences import load_results

    name, _, param = name_param.partition("/")
    param = param or "default"
    if not name or "/" in param or not re.match(r"^[A-Za-z0-9_.+-]+$", name + param):
        raise TadtError(f"--import-results {name_param!r}: use NAME or NAME/PARAM (letters, digits, _.+-)")
    src_dir = Path(src).expanduser()
    if not src_dir.is_dir():
        raise TadtError(f"--import-results {name_param}={src}: not a folder")
    dest = Path(results_path) / name / param
    if dest.is_dir() and any(dest.glob("*.txt")) and not (dest / IMPORT_NOTE).is_file() and not force:
        raise TadtError(f"{dest} already holds results that were not imported by tadt (e.g. a real pytracking "
                        f"run); pick another NAME or pass --force")
    from ..sequences import write_boxes_atomic
    n = 0
    for seq in dataset:
        path = find_result(src_dir, seq.name)
        if path is None:
            continue
        # one finite box or VOT status line per frame, else an error naming the file and line; pytracking's
        # analysis itself refuses files whose length differs from the ground truth
        boxes = load_results(path, len(seq.ground_truth_rect))
        bad = ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
        if bad.any():
            print(f"tadt: warning: {path}: {int(bad.sum())} row(s) are VOT status lines or negative sizes; written "
                  f"as 0 0 0 0 (pytracking's analysis carries the previous box)", file=sys.stderr)
            boxes[bad] = 0.0
        write_boxes_atomic(dest / f"{seq.name}.txt", boxes, fmt="{:.4f}", sep="\t")
        n += 1
    if n == 0:
        raise TadtError(f"--import-results {name_param}={src}: no <seq>.txt file for any sequence of the dataset")
    note = {"display_name": name if param == "default" else f"{name}_{param}", "source": str(src_dir.resolve()),
            "imported_by": "tadt pytracking compare --import-results"}
    atomic_write(dest / IMPORT_NOTE, json.dumps(note, indent=1) + "\n")
    return name, param, n


# ---------------------------------------------------------------------------------------------------
class AnalysisTracker:
    """What pytracking's analysis reads from a tracker (name, parameter_name, run_id, display_name,
    results_dir), for result folders whose tracker code is absent or does not import."""

    def __init__(self, name, parameter_name, run_id, display_name, results_dir):
        self.name, self.parameter_name, self.run_id = name, parameter_name, run_id
        self.display_name, self.results_dir = display_name, results_dir


def make_tracker(name: str, param: str, run_id: Optional[int], display: Optional[str]):
    from pytracking.evaluation import Tracker
    from pytracking.evaluation.environment import env_settings
    try:
        return Tracker(name, param, run_id, display)
    except Exception:  # e.g. a stock tracker whose module fails to import (INTEGRATION.md 5)
        env = env_settings()
        sub = param if run_id is None else f"{param}_{run_id:03d}"
        return AnalysisTracker(name, param, run_id, display, f"{env.results_path}/{name}/{sub}")


def discover(results_path: str) -> List[Tuple[str, str, Optional[int], Optional[str], Path]]:
    """(name, param, run_id, display_name, folder) for every result folder under results_path."""
    out = []
    root = Path(results_path)
    if not root.is_dir():
        return out
    for tdir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for pdir in sorted(p for p in tdir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not any(pdir.glob("*.txt")):
                continue
            m = RUNID_RE.match(pdir.name)
            param, run_id = (m.group(1), int(m.group(2))) if m else (pdir.name, None)
            display = None
            note = pdir / IMPORT_NOTE
            if note.is_file():
                try:
                    display = json.loads(note.read_text()).get("display_name")
                except ValueError:
                    pass
            out.append((tdir.name, param, run_id, display, pdir))
    # tadt first, then alphabetical
    out.sort(key=lambda t: (t[0] != "tadt", t[0].lower(), t[1], t[2] or 0))
    return out


def _parse_tracker_specs(specs: Sequence[str]) -> List[Tuple[str, Optional[str]]]:
    out = []
    for spec in specs:
        name, _, param = spec.partition("/")
        out.append((name, param or None))
    return out


def scores_from_eval_data(eval_data) -> Dict[str, Dict[str, float]]:
    """{display name: {'auc', 'op50', 'op75', 'precision', 'norm_precision'}} (percent), pytracking's math."""
    import torch
    from pytracking.analysis.plot_results import get_auc_curve, get_prec_curve, get_tracker_display_name
    valid = torch.tensor(eval_data["valid_sequence"], dtype=torch.bool)
    overlap = torch.tensor(eval_data["ave_success_rate_plot_overlap"])
    thr = torch.tensor(eval_data["threshold_set_overlap"])
    auc_curve, auc = get_auc_curve(overlap, valid)
    _, prec = get_prec_curve(torch.tensor(eval_data["ave_success_rate_plot_center"]), valid)
    _, nprec = get_prec_curve(torch.tensor(eval_data["ave_success_rate_plot_center_norm"]), valid)
    i50 = int(torch.argmin((thr - 0.5).abs()))
    i75 = int(torch.argmin((thr - 0.75).abs()))
    out = {}
    for i, trk in enumerate(eval_data["trackers"]):
        out[get_tracker_display_name(trk)] = {
            "auc": float(auc[i]), "op50": float(auc_curve[i, i50]), "op75": float(auc_curve[i, i75]),
            "precision": float(prec[i]), "norm_precision": float(nprec[i])}
    return out


def compare(dataset_name: str = "otb_local", sequences: Optional[Sequence[str]] = None,
            trackers: Optional[Sequence[str]] = None, imports: Sequence[str] = (), report_name: Optional[str] = None,
            plots: bool = True, per_sequence: bool = False, force_import: bool = False) -> dict:
    """Run the comparison in this process (the checkout must already be activated).  Returns a dict with
    'trackers', 'sequences', 'skipped', 'scores', 'report_dir'."""
    from pytracking.analysis.plot_results import (check_and_load_precomputed_results, plot_results,
                                                  print_per_sequence_results, print_results)
    from pytracking.evaluation.data import SequenceList
    from pytracking.evaluation.environment import env_settings

    env = env_settings()
    dataset = _load_dataset(dataset_name, sequences)
    for spec in imports:
        if "=" not in spec:
            raise TadtError(f"--import-results {spec!r}: expected NAME=DIR")
        name_param, src = spec.split("=", 1)
        name, param, n = import_results(name_param.strip(), src.strip(), dataset, env.results_path, force_import)
        print(f"imported {n} result file(s) from {src} as tracker {name}/{param} "
              f"({Path(env.results_path) / name / param})")

    found = discover(env.results_path)
    if trackers:
        chosen = []
        for name, param in _parse_tracker_specs(trackers):
            hits = [f for f in found if f[0] == name and (param is None or f[1] == param
                                                          or (f[2] is not None and f"{f[1]}_{f[2]:03d}" == param))]
            if not hits:
                raise TadtError(f"no results for tracker {name}{'/' + param if param else ''} under {env.results_path}")
            chosen += [h for h in hits if h not in chosen]
    else:
        chosen = found
    names = [s.name for s in dataset]
    with_results = []
    for f in chosen:
        have = {n for n in names if (f[4] / f"{n}.txt").is_file()}
        if have:
            with_results.append((f, have))
        elif trackers:
            raise TadtError(f"tracker {f[0]}/{f[4].name} has no result for any sequence of '{dataset_name}'")
    if not with_results:
        raise TadtError(f"no results under {env.results_path} for the sequences of '{dataset_name}' "
                        f"({', '.join(names)}); run a tracker first (tadt pytracking run ...)")
    common = [n for n in names if all(n in have for _, have in with_results)]
    skipped = {f"{f[0]}/{f[4].name}": sorted(set(names) - have) for f, have in with_results if set(names) - have}
    if not common:
        raise TadtError("no sequence has results from every tracker; choose trackers with --trackers or "
                        "sequences with --sequences. Coverage: " +
                        "; ".join(f"{f[0]}/{f[4].name}: {', '.join(sorted(h))}" for f, h in with_results))
    for k, miss in skipped.items():
        print(f"note: {k} has no results for {', '.join(miss)}; "
              f"{'those sequences are' if len(miss) > 1 else 'that sequence is'} left out of the table")
    dataset = SequenceList([s for s in dataset if s.name in common])
    trk_objs = [make_tracker(name, param, run_id, display) for (name, param, run_id, display, _), _ in with_results]
    report = report_name or f"tadt_compare_{dataset_name}"

    eval_data = check_and_load_precomputed_results(trk_objs, dataset, report, force_evaluation=True,
                                                   skip_missing_seq=False)
    print(f"\ndataset '{dataset_name}', {len(dataset)} sequence(s): {', '.join(s.name for s in dataset)}")
    print_results(trk_objs, dataset, report, merge_results=False, plot_types=("success", "prec", "norm_prec"))
    if per_sequence:
        print_per_sequence_results(trk_objs, dataset, report, merge_results=False)
    report_dir = os.path.join(env.result_plot_path, report)
    if plots:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*non-interactive.*")
            warnings.filterwarnings("ignore", message=".*FigureCanvasAgg.*")
            plot_results(trk_objs, dataset, report, merge_results=False, plot_types=("success", "prec"))
        import matplotlib.pyplot as plt
        plt.close("all")
        print(f"plots: {os.path.join(report_dir, 'success_plot.pdf')}, {os.path.join(report_dir, 'precision_plot.pdf')}")
    return {"dataset": dataset_name, "trackers": [f"{f[0]}/{f[4].name}" for f, _ in with_results],
            "sequences": [s.name for s in dataset], "skipped": skipped,
            "scores": scores_from_eval_data(eval_data), "report_dir": report_dir}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tadt pytracking compare",
                                 description="pytracking's results table and success/precision plots for tadt and "
                                             "the other trackers with results in the checkout")
    ap.add_argument("--pytracking", metavar="PATH", default=None,
                    help="pytracking checkout (default: $PYTRACKING_ROOT, else the current directory)")
    ap.add_argument("--dataset_name", "--dataset", dest="dataset_name", default="otb_local",
                    help="pytracking dataset name, plus 'folder' and 'otb_local' (default: %(default)s)")
    ap.add_argument("--folder", metavar="DIR", default=None, help="sequence folder for --dataset_name folder")
    ap.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    ap.add_argument("--trackers", default=None,
                    help="comma-separated NAME or NAME/PARAM (default: every tracker with results)")
    ap.add_argument("--import-results", action="append", default=[], metavar="NAME[/PARAM]=DIR",
                    help="import external per-frame result files (x,y,w,h per line) as tracker NAME; "
                         "repeatable or comma separated")
    ap.add_argument("--force", action="store_true", help="let --import-results overwrite a non-imported folder")
    ap.add_argument("--report-name", default=None, help="folder under result_plot_path (default: tadt_compare_<dataset>)")
    ap.add_argument("--per-sequence", action="store_true", help="also print pytracking's per-sequence table")
    ap.add_argument("--no-plots", action="store_true", help="print the table only")
    ap.add_argument("--json", metavar="FILE", default=None, help="also write the scores as JSON")
    return ap


def _split_imports(values: Sequence[str]) -> List[str]:
    out = []
    for v in values:
        # comma separated NAME=DIR pairs; a comma inside a path is kept when not followed by NAME=
        parts = re.split(r",(?=[A-Za-z0-9_.+/-]+=)", v)
        out += [p for p in parts if p]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _prepare(args.pytracking, args.folder)
    res = compare(args.dataset_name,
                  [s for s in args.sequences.split(",") if s] if args.sequences else None,
                  [t for t in args.trackers.split(",") if t] if args.trackers else None,
                  _split_imports(args.import_results), args.report_name, plots=not args.no_plots,
                  per_sequence=args.per_sequence, force_import=args.force)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, json.dumps(res, indent=1) + "\n")
        print(f"scores -> {args.json}")
    return 0
