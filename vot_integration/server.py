"""TraX 4 server for the VOT toolkit (`tadt-vot`, or `python -m tadt_plugin.vot_integration.server`).

* The model is loaded once per process; every INITIALIZE re-initialises the same tracker, so the
  reset (supervised) and multistart experiments run in one process per sequence.  The server does not
  announce the ``vot=...`` metadata that would make the toolkit restart it on each initialisation.
* Regions: rectangles and polygons (a polygon is reduced to its bounding box); reports rectangles
  with a ``confidence`` property.
* Errors: a bad region or an unreadable frame is reported on stderr with one clear line (plus the
  traceback for anything unexpected) and the session is ended with a TraX quit carrying the reason,
  so the toolkit never waits for a reply that will not come.

Diagnostics on stderr (the toolkit shows it as the tracker log): one line per initialisation with
the process id and a running count, which is how the tests check one process per sequence run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import List, Sequence, Tuple

from tadt_plugin.errors import TadtError


def log(msg: str) -> None:
    """To stderr (the toolkit's tracker log) and, when $TADT_VOT_LOG names a file, appended there too
    (trackers.ini: env_TADT_VOT_LOG = /path), which is how process and initialisation counts are read."""
    line = f"[tadt-vot {os.getpid()}] {msg}"
    print(line, file=sys.stderr, flush=True)
    path = os.environ.get("TADT_VOT_LOG")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def region_to_box(region) -> List[float]:
    """x, y, w, h of a TraX rectangle or polygon region (polygon: its axis-aligned bounding box)."""
    from trax import Region
    kind = region.type
    kind = kind() if callable(kind) else kind
    if kind == Region.RECTANGLE:
        return [float(v) for v in region.bounds()]
    if kind == Region.POLYGON:
        pts = [region.get(i) for i in range(region.size())]
        if len(pts) < 3:
            raise TadtError(f"wrong region format: polygon with {len(pts)} points")
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    if kind == Region.SPECIAL:  # also what a rectangle with NaN coordinates decodes to
        raise TadtError(f"wrong region format: special region {region} (TADT needs a rectangle or polygon; "
                        "NaN coordinates arrive as a special region)")
    raise TadtError(f"wrong region format: {kind} (TADT accepts rectangle or polygon)")


class Session:
    """The tracker side of a TraX session, independent of the transport (tested on its own)."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.inits = 0
        self.frames = 0

    def initialize(self, image_path: str, box: Sequence[float]) -> Tuple[List[float], float]:
        from tadt_plugin.sequences import read_frame
        self.inits += 1
        t = time.perf_counter()
        self.tracker.initialize(read_frame(image_path), box)
        log(f"initialisation {self.inits} on {os.path.basename(image_path)} in {time.perf_counter() - t:.2f} s")
        return [float(v) for v in box], 1.0

    def frame(self, image_path: str) -> Tuple[List[float], float]:
        from tadt_plugin.sequences import read_frame
        self.frames += 1
        return self.tracker.track(read_frame(image_path))


def image_path(image) -> str:
    """The file path of the 'color' channel of a TraX image (the toolkit sends paths)."""
    img = image["color"] if isinstance(image, dict) else image
    path = img.path() if callable(getattr(img, "path", None)) else getattr(img, "path", None)
    if not path:
        raise TadtError("the toolkit sent an image that is not a file path")
    return path[7:] if path.startswith("file://") else path


def serve(tracker) -> int:
    import trax
    from trax import Image, Rectangle, Region, TraxStatus

    session = Session(tracker)
    server = trax.Server([Region.RECTANGLE, Region.POLYGON], [Image.PATH], ["color"],
                         tracker_name="TADT", tracker_family="tadt-plugin",
                         tracker_description="Target-Aware Deep Tracking (CVPR 2019)", metadata=None)
    log("ready")
    while True:
        req = server.wait()
        if req.type == TraxStatus.QUIT:
            log(f"quit after {session.inits} initialisation(s), {session.frames} frame(s)")
            return 0
        try:
            path = image_path(req.image)
            if req.type == TraxStatus.INITIALIZE:
                box, conf = session.initialize(path, region_to_box(req.objects[0][0]))
            else:
                box, conf = session.frame(path)
        except TadtError as exc:
            log(f"error: {exc}")
            server.quit(reason=str(exc))
            return 2
        except Exception as exc:  # unexpected: full traceback to the tracker log, then a clean quit
            traceback.print_exc(file=sys.stderr)
            server.quit(reason=f"{type(exc).__name__}: {exc}")
            return 3
        server.status([(Rectangle.create(*box), {"confidence": f"{conf:.4f}"})])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tadt-vot", description="TADT TraX server for the VOT toolkit")
    ap.add_argument("--param", default="default", help="parameter set (default: %(default)s)")
    ap.add_argument("--device", default=None, help="auto, cpu or cuda (default: the set's)")
    args = ap.parse_args(argv)
    try:
        import trax  # noqa: F401
    except ImportError:
        print("tadt-vot: the TraX binding is missing: pip install 'tadt-plugin[vot]' (vot-trax>=4)", file=sys.stderr)
        return 2
    try:
        from tadt_plugin import parameter
        from tadt_plugin.tracker import TadtTracker
        params = parameter.load(args.param)
        if args.device:
            params = params.replace(device=args.device)
        tracker = TadtTracker(params, log=lambda m: log(m))
    except (TadtError, ValueError) as exc:
        log(f"error: {exc}")
        return 2
    log(f"TADT loaded (param {args.param}, device {tracker.device})")
    return serve(tracker)


if __name__ == "__main__":
    sys.exit(main())
