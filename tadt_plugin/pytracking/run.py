"""`tadt pytracking run` / `python -m tadt_plugin.pytracking run`: pytracking's own ``run_tracker.py`` with
two extra dataset names, ``folder`` and ``otb_local`` (see :mod:`.datasets`).

    python -m tadt_plugin.pytracking run tadt default --dataset_name folder --folder DIR --sequence Skiing
    python -m tadt_plugin.pytracking run tadt rank_off --dataset_name otb_local --threads 2

Everything except ``--pytracking PATH`` and ``--folder DIR`` is passed unchanged to pytracking's
``run_tracker.main()`` (tracker name, parameter set, ``--dataset_name``, ``--sequence``, ``--runid``,
``--threads``, ``--debug`` ...).  Before handing over, this wrapper puts the checkout on ``sys.path``,
registers the two datasets in ``pytracking.evaluation.datasets.dataset_dict`` (pytracking looks the
name up before any tracker code runs, and has no hook for it), and installs the atomic result writer
(:mod:`.atomic`).  Afterwards it checks that every requested sequence has a result file, because
pytracking reports a failed sequence with one printed line and still exits 0; the exit status is 1 when
any is missing.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from ..errors import TadtError
from .checkout import activate, find_checkout


def _our_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="tadt pytracking run", add_help=False,
        description="Run pytracking's run_tracker.py with the extra datasets 'folder' and 'otb_local'. "
                    "All other options are pytracking's (shown below when a checkout is found).")
    ap.add_argument("--pytracking", metavar="PATH", default=None,
                    help="pytracking checkout (default: $PYTRACKING_ROOT, else the current directory)")
    ap.add_argument("--folder", metavar="DIR", default=None,
                    help="sequence folder for --dataset_name folder (default: $TADT_FOLDER, then "
                         "tadt_folder_path or otb_path in local.py)")
    ap.add_argument("-h", "--help", action="store_true", help="show this help and pytracking's")
    return ap


def _pytracking_args(rest: List[str]) -> argparse.Namespace:
    """The options pytracking's run_tracker.main() will see (mirror of its parser, for checks only)."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("tracker_name")
    ap.add_argument("tracker_param")
    ap.add_argument("--runid", type=int, default=None)
    ap.add_argument("--dataset_name", default="otb")
    ap.add_argument("--sequence", default=None)
    ap.add_argument("--debug", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args, _ = ap.parse_known_args(rest)
    return args


def preflight(root, pargs: argparse.Namespace) -> None:
    tracker_dir = root / "pytracking" / "tracker" / pargs.tracker_name
    if not tracker_dir.is_dir():
        have = sorted(p.name for p in (root / "pytracking" / "tracker").iterdir() if p.is_dir() and p.name != "base"
                      and not p.name.startswith("_"))
        hint = f"; run `tadt pytracking install {root}` first" if pargs.tracker_name == "tadt" else ""
        raise TadtError(f"tracker '{pargs.tracker_name}' is not in {root}/pytracking/tracker{hint} "
                        f"(available: {', '.join(have)})")
    param_file = root / "pytracking" / "parameter" / pargs.tracker_name / f"{pargs.tracker_param}.py"
    if not param_file.is_file():
        have = sorted(p.stem for p in param_file.parent.glob("*.py") if not p.stem.startswith("_"))
        raise TadtError(f"parameter set '{pargs.tracker_param}' not found ({param_file}); available: "
                        f"{', '.join(have) or 'none'}" + ("; run `tadt pytracking install` again after upgrading "
                                                         "tadt-plugin" if pargs.tracker_name == "tadt" else ""))
    local = root / "pytracking" / "evaluation" / "local.py"
    if not local.is_file():
        raise TadtError(f"{local} does not exist (pytracking's paths file); create it with "
                        f"`tadt pytracking install {root} --local-py [--otb-path DIR] [--results-path DIR]`")


def missing_results(pargs: argparse.Namespace) -> List[str]:
    from pytracking.evaluation import Tracker, get_dataset
    dataset = get_dataset(pargs.dataset_name)
    if pargs.sequence is not None:
        try:
            seq = int(pargs.sequence)
        except ValueError:
            seq = pargs.sequence
        dataset = [dataset[seq]]
    tracker = Tracker(pargs.tracker_name, pargs.tracker_param, pargs.runid)
    missing = []
    for seq in dataset:
        if seq.object_ids is None:
            names = [f"{seq.name}.txt"]
        else:
            names = [f"{seq.name}_{o}.txt" for o in seq.object_ids]
        if seq.dataset == "oxuva":
            continue
        if not all(os.path.isfile(os.path.join(tracker.results_dir, n)) for n in names):
            missing.append(seq.name)
    return missing


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, rest = _our_parser().parse_known_args(argv)
    if ours.help:
        _our_parser().print_help()
        try:
            root = activate(find_checkout(ours.pytracking))
        except TadtError as exc:
            print(f"\n(pytracking's own options are listed when a checkout is found: {exc})")
            return 0
        print("\npytracking's run_tracker.py options:\n")
        rest = ["--help"]
    else:
        root = activate(find_checkout(ours.pytracking))
        pargs = _pytracking_args(rest)
        preflight(root, pargs)
    from . import atomic, datasets
    if ours.folder:
        ours.folder = os.path.abspath(ours.folder)
        os.environ[datasets.FOLDER_ENV] = ours.folder
    datasets.register(ours.folder)
    atomic.install()
    import importlib
    # (not `import pytracking.run_tracker as ...`: pytracking/__init__.py rebinds that name to the function)
    run_tracker = importlib.import_module("pytracking.run_tracker")
    run_tracker = sys.modules["pytracking.run_tracker"]

    old_argv = sys.argv
    sys.argv = [run_tracker.__file__, *rest]
    try:
        run_tracker.main()
    except SystemExit as exc:  # argparse --help / errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    finally:
        sys.argv = old_argv
    if pargs.debug:  # pytracking saves no results in debug mode
        return 0
    missing = missing_results(pargs)
    if missing:
        print(f"tadt: error: no results for {len(missing)} sequence(s): {', '.join(missing)} "
              f"(see the messages above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
