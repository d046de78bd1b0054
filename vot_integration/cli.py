"""`tadt vot ...`: build a VOT toolkit workspace for TADT, add TADT to an existing one, or make the
toolkit's own virtual environment (it pins a GUI OpenCV that clashes with ours)."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tadt_plugin.errors import TadtError

TOOLKIT_PINS = ("vot-toolkit==0.7.4", "attributee==0.1.9", "vot-trax>=4")


def make_toolkit_venv(path: Path) -> Path:
    """The toolkit's own venv, plus opencv-contrib (for the CSRT example entry and `tadt bench
    --peer-python`).  vot-toolkit pulls in opencv-python; both wheels provide `cv2`, and which one wins
    depends on pip's install order, so the contrib wheel of the same version is laid over it afterwards."""
    from .workspace import check_csrt_python
    path = Path(path)
    py = str(path / "bin" / "python")
    if not Path(py).exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", *TOOLKIT_PINS], check=True)
    version = subprocess.run([py, "-c", "from importlib.metadata import version; print(version('opencv-python'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    f"opencv-contrib-python-headless=={version}"], check=True)
    check_csrt_python(py)
    return path


def main(argv=None) -> int:
    from .workspace import create_workspace, summarize_analysis, tadt_tracker_entry, write_trackers_ini

    ap = argparse.ArgumentParser(prog="tadt vot", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("workspace", help="create (or extend) a ready, offline VOT workspace")
    p.add_argument("dir")
    p.add_argument("--sequence", action="append", default=[], metavar="PATH",
                   help="OTB- or VOT-layout sequence folder (repeatable)")
    p.add_argument("--stack", default=None, help="stack YAML file or integrated stack name (default: a local "
                                                 "unsupervised + supervised + multistart stack)")
    p.add_argument("--param", default="default")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the tracker process")
    p.add_argument("--with-csrt", metavar="PYTHON", default=None,
                   help="also add an OpenCV CSRT entry run by this interpreter (needs vot-trax + opencv-contrib)")
    p.add_argument("--copy-frames", action="store_true", help="copy frames instead of symlinking them")
    p = sub.add_parser("add-tracker", help="add the [TADT] entry to an existing workspace's trackers.ini")
    p.add_argument("dir")
    p.add_argument("--param", default="default")
    p.add_argument("--device", default=None)
    p.add_argument("--name", default="TADT", help="tracker identifier (default: TADT)")
    p = sub.add_parser("summary", help="accuracy, robustness and EAO from `vot analysis --format json` output")
    p.add_argument("dir")
    p.add_argument("--name", default="tadt", help="analysis name (analysis/NAME.json)")
    p = sub.add_parser("toolkit-venv", help="create a venv with the VOT toolkit versions that work offline")
    p.add_argument("dir")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "workspace":
            names = create_workspace(Path(args.dir), args.sequence, args.stack, args.param, args.device,
                                     args.with_csrt, args.threads, args.copy_frames)
            print(f"workspace {args.dir}: {len(names)} sequence(s): {', '.join(names)}")
            print(f"next: cd {args.dir} && vot evaluate TADT && vot analysis TADT --name tadt && "
                  f"vot report TADT --name tadt --format html")
        elif args.cmd == "add-tracker":
            ini = Path(args.dir) / "trackers.ini"
            if not Path(args.dir).is_dir():
                raise TadtError(f"workspace {args.dir} does not exist")
            write_trackers_ini(ini, args.name, tadt_tracker_entry(args.param, args.device))
            print(f"[{args.name}] written to {ini}")
        elif args.cmd == "summary":
            path = Path(args.dir) / "analysis" / f"{args.name}.json"
            if not path.is_file():
                raise TadtError(f"{path} not found: run `vot analysis --name {args.name}` in the workspace first")
            print(summarize_analysis(path))
        else:
            path = make_toolkit_venv(Path(args.dir))
            print(f"VOT toolkit venv ready: {path}/bin/vot")
    except TadtError as exc:
        print(f"tadt vot: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
