"""Frame conversion (grey, RGBA, 16-bit, float) and reading frames and OTB folders from disk (generated)."""
import cv2
import numpy as np
import pytest

from tadt_plugin.errors import BadFrameError
from tadt_plugin.frames import to_rgb_uint8
from tadt_plugin.sequences import load_boxes, open_source, read_frame, write_boxes_atomic


def test_grey_rgba_16bit_float():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_rgb_uint8(g)
    assert out.shape == (3, 4, 3) and (out[..., 0] == g).all() and (out[..., 2] == g).all()
    rgba = np.dstack([np.full((3, 4, 3), 7, np.uint8), np.zeros((3, 4), np.uint8)])
    assert (to_rgb_uint8(rgba) == 7).all()
    deep = np.full((3, 4, 3), 65535, np.uint16)
    assert (to_rgb_uint8(deep) == 255).all()
    assert (to_rgb_uint8(np.full((2, 2), 257 * 100, np.uint16)) == 100).all()
    assert (to_rgb_uint8(np.full((2, 2, 3), 0.5, np.float32)) == 128).all()


@pytest.mark.parametrize("bad,msg", [
    (None, "missing"), (np.zeros((0, 5, 3), np.uint8), "empty"), (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((2, 2, 2, 3), np.uint8), "shape"), (np.full((2, 2, 3), np.nan, np.float32), "NaN"),
])
def test_bad_frames_are_named(bad, msg):
    with pytest.raises(BadFrameError, match=msg):
        to_rgb_uint8(bad)


def test_read_grey_jpeg_and_missing_or_truncated(synthetic_root, tmp_path):
    grey_file = synthetic_root / "SynGrey" / "img" / "0001.jpg"
    assert cv2.imread(str(grey_file), cv2.IMREAD_UNCHANGED).ndim == 2  # really a single-channel JPEG
    toy = read_frame(grey_file)
    assert toy.shape == (240, 320, 3) and toy.dtype == np.uint8
    assert (toy[..., 0] == toy[..., 1]).all() and (toy[..., 1] == toy[..., 2]).all()
    with pytest.raises(BadFrameError, match="does not exist"):
        read_frame(tmp_path / "nope.jpg")
    data = (synthetic_root / "SynB" / "img" / "0001.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:200])
    with pytest.raises(BadFrameError, match="cannot be decoded"):
        read_frame(tmp_path / "cut.jpg")


def test_16bit_png_roundtrip(tmp_path):
    img = (np.arange(64 * 48 * 3, dtype=np.uint32).reshape(48, 64, 3) * 37 % 65536).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), img)
    out = read_frame(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)


def test_open_otb_sequence(synthetic_root):
    from tadt_plugin.synthetic import SyntheticSequence
    from conftest import SYNTHETIC
    s = open_source(synthetic_root / "SynB")
    assert len(s) == 40 and s.ground_truth.shape == (40, 4)
    assert [p.name for p in s.frames[:2]] == ["0001.jpg", "0002.jpg"]
    # the boxes on disk are the generator's, to the 2 decimals they are written with
    assert np.abs(s.ground_truth - SyntheticSequence(**SYNTHETIC["SynB"]).ground_truth()).max() <= 0.0051


def test_atomic_write_and_load(tmp_path):
    p = tmp_path / "r" / "a.txt"
    write_boxes_atomic(p, [[1, 2, 3, 4], [5.5, 6, 7, 8]])
    assert np.allclose(load_boxes(p), [[1, 2, 3, 4], [5.5, 6, 7, 8]])
    assert [f.name for f in p.parent.iterdir()] == ["a.txt"]  # no temporary file left behind
    (tmp_path / "t.txt").write_text("1\t2\t3\t4\nNaN,NaN,NaN,NaN\n0,0,10,0,10,10,0,10\n")
    b = load_boxes(tmp_path / "t.txt")
    assert b.shape == (3, 4) and np.isnan(b[1]).all() and list(b[2]) == [0, 0, 10, 10]
