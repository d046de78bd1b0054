"""`tadt pytracking ...` (also `python -m tadt_plugin.pytracking ...`).

  install [PATH]     write the tadt shims into a pytracking checkout (and, on request, local.py fields)
  uninstall [PATH]   remove exactly what install wrote
  status [PATH]      shims, local.py fields and missing pip packages
  run TRACKER PARAM  pytracking's run_tracker.py plus the datasets 'folder' and 'otb_local'
  compare            pytracking's results table and plots for tadt and other trackers
  make-got10k SRC DEST   OTB-layout sequences as a GOT-10k val split (symlinks), for stock run_tracker.py

PATH defaults to $PYTRACKING_ROOT, else the checkout containing the current directory.  Only `run` and
`compare` import pytracking; `install`, `uninstall`, `status` and `make-got10k` do not need its
dependencies.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..errors import TadtError

COMMANDS = ("install", "uninstall", "status", "run", "compare", "make-got10k")


def _err(msg: str) -> None:
    print(f"tadt pytracking: error: {msg}", file=sys.stderr)


def _print_report(rep) -> int:
    for line in rep.lines:
        print(line)
    for p in rep.problems:
        print(f"warning: {p}", file=sys.stderr)
    return 0


def cmd_install(args) -> int:
    from . import install as inst
    from .checkout import find_checkout
    root = find_checkout(args.path)
    rep = inst.install(root, force=args.force)
    values = {k: v for k, v in (("otb_path", args.otb_path), ("got10k_path", args.got10k_path),
                                ("tadt_folder_path", args.folder_path), ("results_path", args.results_path),
                                ("result_plot_path", args.result_plot_path), ("network_path", args.network_path))
              if v}
    import os
    values = {k: os.path.abspath(os.path.expanduser(v)) for k, v in values.items()}
    missing = inst.check_local(root, inst.Report())  # what is missing before any change
    if args.interactive:
        values = inst.prompt_local_fields(root, missing, values)
    if values or args.local_py or args.interactive:
        inst.write_local_fields(root, values, rep)
    inst.check_local(root, rep)
    from .checkout import REQUIRED_MODULES, missing_modules
    miss = missing_modules()
    if miss:
        rep.say("note: pytracking also needs these pip packages, which are missing: " + ", ".join(miss))
        for m in miss:
            rep.say(f"  {REQUIRED_MODULES[m]}")
    rep.say(f"next: cd {root}/pytracking && python run_tracker.py tadt default --dataset_name <name> --sequence <seq>"
            f"  (or: tadt pytracking run tadt default --dataset_name folder --folder DIR)")
    return _print_report(rep)


def cmd_uninstall(args) -> int:
    from . import install as inst
    from .checkout import find_checkout
    rep = inst.uninstall(find_checkout(args.path), force=args.force)
    _print_report(rep)
    return 1 if rep.problems else 0


def cmd_status(args) -> int:
    from . import install as inst
    from .checkout import find_checkout
    return _print_report(inst.status(find_checkout(args.path)))


def cmd_make_got10k(args) -> int:
    from .got10k import make_split
    names = [s for s in args.sequences.split(",") if s] if args.sequences else None
    done = make_split(args.src, args.dest, names)
    if not done:
        raise TadtError("no sequence converted")
    print(f"{len(done)} sequence(s) under {args.dest}/val: {', '.join(done)}")
    print(f"set got10k_path = {args.dest} in local.py (`tadt pytracking install PATH --got10k-path {args.dest}`), "
          f"then: python run_tracker.py tadt default --dataset_name got10k_val --sequence {done[0]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tadt pytracking", description="TADT as a pytracking tracker")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("install", help="write the tadt shims into a pytracking checkout",
                       description="Write pytracking/tracker/tadt/ and pytracking/parameter/tadt/<set>.py shims "
                                   "that import the installed tadt_plugin package; idempotent; refuses folders "
                                   "it did not write. Also reports (and on request sets) local.py fields.")
    p.add_argument("path", nargs="?", default=None, help="pytracking checkout (default: $PYTRACKING_ROOT or cwd)")
    p.add_argument("--force", action="store_true", help="replace shim files that were edited by hand")
    g = p.add_argument_group("pytracking/evaluation/local.py (never changed unless asked)")
    g.add_argument("--local-py", action="store_true", help="create local.py if it is missing")
    g.add_argument("--interactive", action="store_true", help="ask for the missing fields (needs a terminal)")
    g.add_argument("--otb-path", metavar="DIR", help="set otb_path (OTB-layout root; used by otb / otb_local)")
    g.add_argument("--got10k-path", metavar="DIR", help="set got10k_path (used by got10k_val)")
    g.add_argument("--folder-path", metavar="DIR", help="set tadt_folder_path (default for --dataset_name folder)")
    g.add_argument("--results-path", metavar="DIR", help="set results_path")
    g.add_argument("--result-plot-path", metavar="DIR", help="set result_plot_path")
    g.add_argument("--network-path", metavar="DIR", help="set network_path")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("uninstall", help="remove exactly the files install wrote")
    p.add_argument("path", nargs="?", default=None)
    p.add_argument("--force", action="store_true", help="also remove shim files that were edited by hand")
    p.set_defaults(func=cmd_uninstall)

    p = sub.add_parser("status", help="shims, local.py fields and missing pip packages")
    p.add_argument("path", nargs="?", default=None)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("make-got10k", help="OTB-layout sequences as a GOT-10k val split (symlinks)")
    p.add_argument("src", help="folder of OTB-layout sequences")
    p.add_argument("dest", help="new got10k_path (DEST/val/<seq>/ is written)")
    p.add_argument("--sequences", default=None, help="comma-separated names (default: all)")
    p.set_defaults(func=cmd_make_got10k)

    for name, help_ in (("run", "pytracking's run_tracker.py plus the datasets 'folder' and 'otb_local'"),
                        ("compare", "pytracking's results table and plots for tadt and other trackers")):
        p = sub.add_parser(name, help=help_, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=None)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("run", "compare"):  # their options are parsed by the modules themselves
            if argv[0] == "run":
                from .run import main as run_main
                return run_main(argv[1:])
            from .compare import main as compare_main
            return compare_main(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except TadtError as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
