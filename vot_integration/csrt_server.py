"""Example second tracker for a VOT workspace: OpenCV CSRT over TraX.

Run with an interpreter that has ``vot-trax`` and an opencv-contrib wheel (CSRT lives in contrib),
for instance the VOT toolkit's own venv after ``pip install opencv-contrib-python-headless``
(see docs/vot.md).  Self-contained on purpose: it does not import tadt_plugin.
"""
import sys

import cv2
import trax
from trax import Image, Rectangle, Region, TraxStatus


def csrt_factory():
    """cv2.TrackerCSRT_create (OpenCV 4 and 5 contrib), else the newer class API, else the legacy module;
    None when the installed OpenCV wheel has no contrib modules."""
    for owner, name in ((cv2, "TrackerCSRT_create"), (getattr(cv2, "TrackerCSRT", None), "create"),
                        (getattr(cv2, "legacy", None), "TrackerCSRT_create")):
        if owner is not None and hasattr(owner, name):
            return getattr(owner, name)
    return None


MISSING = (f"OpenCV {cv2.__version__} in {sys.executable} has no CSRT (it is in the contrib wheel): "
           f"run `{sys.executable} -m pip install opencv-contrib-python-headless`")


def main() -> int:
    server = trax.Server([Region.RECTANGLE, Region.POLYGON], [Image.PATH], ["color"], tracker_name="CSRT")
    create = csrt_factory()
    tracker = None
    while True:
        req = server.wait()
        if req.type == TraxStatus.QUIT:
            return 0
        path = req.image["color"].path()
        img = cv2.imread(path[7:] if path.startswith("file://") else path)
        if img is None:
            server.quit(reason=f"cannot read {path}")
            return 2
        if req.type == TraxStatus.INITIALIZE:
            if create is None:
                print(f"[csrt] error: {MISSING}", file=sys.stderr, flush=True)
                server.quit(reason=MISSING)
                return 2
            x, y, w, h = req.objects[0][0].bounds()
            tracker = create()
            tracker.init(img, (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h)))))
            box, conf = (x, y, w, h), 1.0
        else:
            ok, b = tracker.update(img)
            box, conf = (tuple(float(v) for v in b), 1.0) if ok else ((0.0, 0.0, 0.0, 0.0), 0.0)
        server.status([(Rectangle.create(*box), {"confidence": f"{conf:.3f}"})])


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:  # used by `tadt vot workspace --with-csrt` before it writes the entry
        sys.exit(0 if csrt_factory() else MISSING)
    sys.exit(main())
