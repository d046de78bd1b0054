"""Shared fixtures.  Real data comes from ../shared/data (next to the checkout) or $TADT_SHARED_DATA;
tests that need it are skipped, with the reason shown, when it is absent."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    env = os.environ.get("TADT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


SEQ_ROOT = shared_data() / "sequences"
RESULTS_ROOT = shared_data() / "results"


@pytest.fixture(scope="session")
def seq_root() -> Path:
    if not SEQ_ROOT.is_dir():
        pytest.skip(f"real sequences not found at {SEQ_ROOT} (set TADT_SHARED_DATA)")
    return SEQ_ROOT


def make_short_otb(src: Path, dest: Path, n: int) -> Path:
    """An OTB-layout copy of the first n frames of src, ground truth cut.  Frames are copied, not
    symlinked, so a test that damages a frame can never write through to the shared data."""
    (dest / "img").mkdir(parents=True)
    frames = sorted((src / "img").iterdir())[:n]
    for f in frames:
        shutil.copyfile(f, dest / "img" / f.name)
    lines = (src / "groundtruth_rect.txt").read_text().splitlines()[:n]
    (dest / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return dest


@pytest.fixture
def short_seq(seq_root, tmp_path):
    """factory: short_seq('Crossing', 30) -> folder with the first 30 frames of Crossing."""
    def make(name: str, n: int) -> Path:
        return make_short_otb(seq_root / name, tmp_path / "seqs" / name, n)
    return make


@pytest.fixture(scope="session")
def tracker_factory():
    """Builds trackers that share one loaded set of weights (the backbone is built per tracker)."""
    from tadt_plugin.params import TadtParams
    from tadt_plugin.tracker import TadtTracker
    from tadt_plugin.weights import resolve_weights

    weights = resolve_weights()

    def make(**changes):
        return TadtTracker(TadtParams(device="cpu", **changes), weights=weights)
    return make


def rgb_noise(h=240, w=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
