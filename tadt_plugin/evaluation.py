"""`tadt eval`: score result folders against OTB-layout ground truth, side by side, and plot success."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import metrics
from .atomicfile import atomic_path
from .errors import TadtError
from .sequences import discover_sequences, load_results


@dataclass
class Table:
    trackers: List[str]
    sequences: List[str]
    scores: Dict[Tuple[str, str], dict]   # (tracker, sequence) -> metrics.evaluate output
    short: Dict[Tuple[str, str], Tuple[int, int]] = field(default_factory=dict)  # -> (rows, frames), --allow-short

    def mean(self, tracker: str, key: str) -> float:
        vals = [self.scores[(tracker, s)][key] for s in self.sequences if (tracker, s) in self.scores]
        return float(np.mean(vals)) if vals else float("nan")

    def mean_curve(self, tracker: str) -> np.ndarray:
        curves = [self.scores[(tracker, s)]["curve"] for s in self.sequences if (tracker, s) in self.scores]
        return np.mean(curves, axis=0) if curves else np.zeros_like(metrics.IOU_THRESHOLDS)


def find_result(folder: Path, name: str) -> Optional[Path]:
    """<Name>.txt, or the common variants <Name>_<tracker>.txt / lower-case names."""
    for cand in (folder / f"{name}.txt", folder / f"{name.lower()}.txt"):
        if cand.is_file():
            return cand
    hits = sorted(p for p in folder.glob("*.txt") if p.stem.lower().startswith(name.lower() + "_")
                  and not p.stem.endswith(("_time", "_object_presence_scores")))
    return hits[0] if hits else None


def evaluate_folders(seq_root, folders: Sequence[Tuple[str, str]], names: Optional[Sequence[str]] = None,
                     start: int = 1, allow_short: bool = False) -> Table:
    """Score every folder's <Name>.txt against the ground truth.  A results file with a line that is not
    a box, or with another number of rows than the ground truth, is an error naming the file
    (sequences.load_results); allow_short scores truncated files and the table says which."""
    seqs = {s.name: s for s in discover_sequences(seq_root, names)}
    for label, d in folders:
        if not Path(d).is_dir():
            what = "is not a folder" if Path(d).exists() else "does not exist"
            raise TadtError(f"result folder {d} ({label}) {what}")
    if not names:  # the sequences the first folder has results for
        first = Path(folders[0][1])
        names = [n for n in seqs if find_result(first, n) is not None]
        if not names:
            raise TadtError(f"no <Name>.txt results in {first} match sequences under {seq_root}")
    scores, short = {}, {}
    for label, d in folders:
        for n in names:
            path = find_result(Path(d), n)
            if path is None:
                continue
            gt = seqs[n].ground_truth
            boxes = load_results(path, len(gt), allow_short=allow_short)
            if len(boxes) < len(gt):
                short[(label, n)] = (len(boxes), len(gt))
            scores[(label, n)] = metrics.evaluate(boxes, gt, start=start)
    return Table([label for label, _ in folders], list(names), scores, short)


def format_table(t: Table, start: int = 2) -> str:
    w = max(12, *(len(s) for s in t.sequences))
    head = f"{'sequence':<{w}}" + "".join(f" | {tr[:20]:>20}" for tr in t.trackers)
    sub = f"{'':<{w}}" + "".join(f" | {'AUC':>9} {'prec@20':>10}" for _ in t.trackers)
    lines = [f"OTB success AUC (IoU 0:0.05:1) and precision at 20 px, frames {start}..N", head, sub,
             "-" * len(head)]

    def cell(tr, s):
        sc = t.scores.get((tr, s))
        return f" | {sc['auc']:9.3f} {sc['precision']:10.3f}" if sc else f" | {'-':>9} {'-':>10}"

    for s in t.sequences:
        lines.append(f"{s:<{w}}" + "".join(cell(tr, s) for tr in t.trackers))
    lines.append("-" * len(head))
    lines.append(f"{'mean':<{w}}" + "".join(f" | {t.mean(tr, 'auc'):9.3f} {t.mean(tr, 'precision'):10.3f}"
                                            for tr in t.trackers))
    missing = [(tr, s) for tr in t.trackers for s in t.sequences if (tr, s) not in t.scores]
    if missing:
        lines.append("note: missing results (shown as -, left out of that tracker's mean): "
                     + ", ".join(f"{tr}/{s}" for tr, s in missing))
    if t.short:
        lines.append("note: truncated results scored with --allow-short (frames past the last row count as "
                     "failures): " + ", ".join(f"{tr}/{s} {r} of {n} rows" for (tr, s), (r, n) in t.short.items()))
    return "\n".join(lines)


def save_success_plot(t: Table, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for tr in sorted(t.trackers, key=lambda tr: -t.mean(tr, "auc")):
        ax.plot(metrics.IOU_THRESHOLDS, t.mean_curve(tr), label=f"{tr} [{t.mean(tr, 'auc'):.3f}]", lw=2)
    ax.set_xlabel("overlap threshold (IoU)")
    ax.set_ylabel("success rate")
    ax.set_title(f"Success plot ({len(t.sequences)} sequences)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    with atomic_path(path, suffix=Path(path).suffix or ".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ reset
@dataclass
class ResetTable:
    trackers: List[str]
    sequences: List[str]
    scores: Dict[Tuple[str, str], "object"]   # (tracker, sequence) -> reset_protocol.ResetScore
    means: Dict[str, "object"]                # tracker -> pooled ResetScore (over the sequences it has)


def evaluate_reset_folders(seq_root, folders: Sequence[Tuple[str, str]],
                           names: Optional[Sequence[str]] = None) -> ResetTable:
    """Score reset-protocol results (VOT text format, one line per frame) side by side."""
    from . import reset_protocol as rp
    from .sequences import read_text_lines, read_frame
    seqs = {s.name: s for s in discover_sequences(seq_root, names)}
    for label, d in folders:
        if not Path(d).is_dir():
            raise TadtError(f"result folder {d} ({label}) {'is not a folder' if Path(d).exists() else 'does not exist'}")
    if not names:
        names = [n for n in seqs if find_result(Path(folders[0][1]), n) is not None]
        if not names:
            raise TadtError(f"no <Name>.txt results in {folders[0][1]} match sequences under {seq_root}")
    interval = rp.eao_interval([len(seqs[n]) for n in names])
    sizes = {}
    scores, means = {}, {}
    for label, d in folders:
        got, runs = [], []
        for n in names:
            path = find_result(Path(d), n)
            if path is None:
                continue
            gt = seqs[n].ground_truth[: len(seqs[n])]
            traj = rp.parse_trajectory(read_text_lines(path, "reset results file"), str(path))
            if len(traj) != len(gt):
                raise TadtError(f"reset results file {path} has {len(traj)} lines for {len(gt)} frames")
            if n not in sizes:
                first = read_frame(seqs[n].frames[0])
                sizes[n] = (first.shape[1], first.shape[0])
            sc, r = rp.score_sequence(traj, gt, sizes[n], interval=interval)
            scores[(label, n)] = sc
            got.append(sc)
            runs.append(r)
        if got:
            means[label] = rp.pooled(got, runs, interval=interval)
    return ResetTable([label for label, _ in folders], list(names), scores, means)


def format_reset_table(t: ResetTable) -> str:
    w = max(12, *(len(s) for s in t.sequences))
    head = f"{'sequence':<{w}}" + "".join(f" | {tr[:27]:>27}" for tr in t.trackers)
    sub = f"{'':<{w}}" + "".join(f" | {'fail':>5} {'acc':>6} {'R':>6} {'EAO':>6}" for _ in t.trackers)
    lines = ["VOT reset protocol: failures (zero overlap), accuracy (10 burn-in frames skipped), robustness "
             "R = exp(-30 failures/frames), EAO", head, sub, "-" * len(head)]

    def cell(sc, fmt="5.0f"):
        return (f" | {sc.failures:{fmt}} {sc.accuracy:6.3f} {sc.robustness:6.3f} {sc.eao:6.3f}" if sc
                else f" | {'-':>5} {'-':>6} {'-':>6} {'-':>6}")

    for s in t.sequences:
        lines.append(f"{s:<{w}}" + "".join(cell(t.scores.get((tr, s))) for tr in t.trackers))
    lines.append("-" * len(head))
    lines.append(f"{'total fail.':<{w}}" + "".join(
        f" | {sum(t.scores[(tr, s)].failures for s in t.sequences if (tr, s) in t.scores):5.0f}{'':>21}"
        for tr in t.trackers))
    lines.append(f"{'mean/pooled':<{w}}" + "".join(cell(t.means.get(tr), "5.2f") for tr in t.trackers))
    missing = [(tr, s) for tr in t.trackers for s in t.sequences if (tr, s) not in t.scores]
    if missing:
        lines.append("note: missing results (left out of that tracker's means): "
                     + ", ".join(f"{tr}/{s}" for tr, s in missing))
    return "\n".join(lines)
