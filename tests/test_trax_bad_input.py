"""The TraX server under bad input, driven by vot-trax's own client (what the VOT toolkit uses).

Every case must end the session with a TraX quit whose reason names the problem and a non-zero exit
status, within seconds, never a hang and never a torch traceback; a good session still tracks.
Frames come from a generated sequence (conftest.SYNTHETIC), so these run without any downloaded data.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

trax = pytest.importorskip("trax", reason="vot-trax is not installed (pip install 'tadt-plugin[vot]')")
from trax.client import Client  # noqa: E402


class Server:
    def __init__(self, tmp_path):
        self.stderr = tmp_path / "server.err"
        env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen([sys.executable, "-m", "tadt_plugin.vot_integration.server", "--device", "cpu"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr, "w"), env=env)
        self.protocol_log = []  # vot-trax's client needs a logger (log=False fails in 4.0.2), as the toolkit gives
        self.client = Client(stream=(self.proc.stdin.fileno(), self.proc.stdout.fileno()),
                             log=self.protocol_log.append)

    def initialize(self, path, region):
        return self.client.initialize({"color": trax.FileImage.create(str(path))}, [(region, {})], {})

    def frame(self, path):
        return self.client.frame({"color": trax.FileImage.create(str(path))}, {}, [])

    def finish(self, timeout=60):
        rc = self.proc.wait(timeout=timeout)
        return rc, self.stderr.read_text()


@pytest.fixture
def frames(synthetic_root):
    files = sorted((synthetic_root / "SynA" / "img").iterdir())[:3]
    gt = np.loadtxt(synthetic_root / "SynA" / "groundtruth_rect.txt", delimiter=",")[0]
    return files, gt


def rect(*v):
    return trax.Rectangle.create(*map(float, v))


@pytest.mark.parametrize("region,msg", [
    (lambda gt: rect(gt[0], gt[1], 0, gt[3]), "non-positive"),
    (lambda gt: rect(gt[0], gt[1], -5, gt[3]), "non-positive"),
    (lambda gt: rect(float("nan"), gt[1], gt[2], gt[3]), "NaN coordinates arrive as a special region"),
    (lambda gt: rect(9000, 9000, 20, 20), "outside"),
    (lambda gt: rect(gt[0], gt[1], 1, 1), "smaller than 2"),
])
def test_bad_region_quits_with_the_reason(tmp_path, frames, region, msg):
    files, gt = frames
    s = Server(tmp_path)
    with pytest.raises(trax.TraxException, match=msg):
        s.initialize(files[0], region(gt))
    rc, err = s.finish()
    assert rc == 2 and msg in err and "Traceback" not in err


@pytest.mark.parametrize("damage,msg", [("truncate", "cannot be decoded"), ("delete", "does not exist"),
                                        ("resize", "size changed")])
def test_bad_frame_mid_session_quits_with_the_reason(tmp_path, frames, damage, msg):
    import cv2
    files, gt = frames
    s = Server(tmp_path)
    s.initialize(files[0], rect(*gt))
    objects, _ = s.frame(files[1])  # a good frame tracks
    assert len(objects) == 1
    bad = tmp_path / "bad.jpg"
    if damage == "truncate":
        bad.write_bytes(files[2].read_bytes()[:200])
    elif damage == "resize":
        cv2.imwrite(str(bad), cv2.imread(str(files[2]))[:100, :120])
    with pytest.raises(trax.TraxException, match=msg):
        s.frame(bad)
    rc, err = s.finish()
    assert rc == 2 and msg in err and "Traceback" not in err
