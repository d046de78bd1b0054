"""The pytracking plugin (issue 3): shims, local.py, datasets, atomic results, adapter, runner and analysis.

Needs a pytracking checkout: $PYTRACKING_ROOT, default ~/pytracking (never modified: every test works on a
fresh `git clone` of it in a temporary folder).  Tests that import pytracking also need its pip packages
(jpeg4py, pandas, visdom).  Missing either -> the tests are skipped with the reason shown (pytest -ra).

The end-to-end test tracks a generated sequence (conftest.SYNTHETIC, no downloaded data needed); only the
dataset and authors'-results tests need the real OTB sequences at ../shared/data.
CPU cost (2-core machine): the one end-to-end test (`slow`) tracks SynA (40 generated frames) once with the
stock `run_tracker.py`; the rest about 20 s.  `pytest -m "not slow"` skips the tracking run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SEQ_ROOT, RESULTS_ROOT

PT_ROOT = Path(os.environ.get("PYTRACKING_ROOT", "~/pytracking")).expanduser()
PT_DEPS = ("jpeg4py", "pandas", "visdom")
OTB8 = ["Crossing", "Diving", "DragonBaby", "FaceOcc1", "Human3", "MotorRolling", "Skiing", "Toy"]


def _have_checkout() -> bool:
    return (PT_ROOT / "pytracking" / "evaluation").is_dir() and (PT_ROOT / ".git").exists()


needs_checkout = pytest.mark.skipif(
    not _have_checkout(), reason=f"no pytracking checkout at {PT_ROOT} (set PYTRACKING_ROOT to a git clone of "
                                 f"visionml/pytracking)")
_missing = [m for m in PT_DEPS if importlib.util.find_spec(m) is None]
needs_deps = pytest.mark.skipif(bool(_missing), reason=f"pytracking's pip packages missing: {', '.join(_missing)} "
                                                     f"(pip install jpeg4py pandas visdom; see docs/pytracking.md)")
needs_data = pytest.mark.skipif(not SEQ_ROOT.is_dir(), reason=f"real sequences not found at {SEQ_ROOT}")
pytestmark = needs_checkout


def clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(PT_ROOT), str(dest)], check=True)
    return dest


def git_status(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                          capture_output=True, text=True, check=True).stdout


def tadt_cli(*args, cwd=None, env=None, check=True, timeout=600):
    """`python -m tadt_plugin.pytracking ARGS` in a subprocess (pytracking imports stay out of pytest)."""
    e = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    e.update(env or {})
    r = subprocess.run([sys.executable, "-m", "tadt_plugin.pytracking", *map(str, args)], cwd=cwd, env=e,
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


# ------------------------------------------------------------------------------------------------ install
def test_install_idempotent_and_uninstall_leaves_git_clean(tmp_path):
    from tadt_plugin import parameter
    from tadt_plugin.pytracking import install as inst

    root = clone(tmp_path / "pt")
    exclude = root / ".git" / "info" / "exclude"
    exclude_before = exclude.read_bytes()
    assert git_status(root) == ""

    r = tadt_cli("install", root)
    assert "registered" in r.stdout
    shim = root / "pytracking" / "tracker" / "tadt" / "__init__.py"
    assert "from tadt_plugin.pytracking.tracker import get_tracker_class" in shim.read_text()
    pdir = root / "pytracking" / "parameter" / "tadt"
    for name in parameter.available():
        assert (pdir / f"{name}.py").read_text().endswith(f"from tadt_plugin.parameter.{name} import parameters  # noqa: F401\n")
    assert {"default", "rank_off", "rank_trained"} <= set(parameter.available())
    assert inst.EXCLUDE_BEGIN in exclude.read_text()
    assert git_status(root) == "", "the shims must be excluded from git status"

    mtimes = {p: p.stat().st_mtime_ns for p in pdir.iterdir()}
    r = tadt_cli("install", root)
    assert "up to date" in r.stdout
    assert {p: p.stat().st_mtime_ns for p in pdir.iterdir()} == mtimes, "a second install rewrote files"
    assert exclude.read_text().count(inst.EXCLUDE_BEGIN) == 1

    # Python's bytecode next to the shims must not keep the folders alive
    import py_compile
    for f in [*pdir.glob("*.py"), root / "pytracking" / "tracker" / "tadt" / "__init__.py"]:
        py_compile.compile(str(f), doraise=True)  # what importing them writes (unless PYTHONDONTWRITEBYTECODE)
    assert list((pdir / "__pycache__").glob("default.*.pyc"))
    assert list((root / "pytracking" / "tracker" / "tadt" / "__pycache__").glob("__init__.*.pyc"))
    r = tadt_cli("uninstall", root)
    assert not (root / "pytracking" / "tracker" / "tadt").exists()
    assert not pdir.exists()
    assert exclude.read_bytes() == exclude_before
    assert git_status(root) == ""


def test_install_refuses_a_folder_it_did_not_write(tmp_path):
    root = clone(tmp_path / "pt")
    mine = root / "pytracking" / "tracker" / "tadt"
    mine.mkdir()
    (mine / "__init__.py").write_text("# someone else's tadt\n")
    r = tadt_cli("install", root, check=False)
    assert r.returncode != 0 and "not written by tadt-plugin" in r.stderr
    assert (mine / "__init__.py").read_text() == "# someone else's tadt\n"
    assert not (root / "pytracking" / "parameter" / "tadt").exists(), "nothing may be written when refusing"
    r = tadt_cli("uninstall", root, check=False)
    assert r.returncode != 0 and (mine / "__init__.py").is_file(), "uninstall must leave a foreign folder alone"


def test_user_files_and_edits_survive(tmp_path):
    root = clone(tmp_path / "pt")
    tadt_cli("install", root)
    pdir = root / "pytracking" / "parameter" / "tadt"
    (pdir / "mine.py").write_text("from tadt_plugin.parameter.default import parameters\n")
    edited = pdir / "rank_off.py"
    edited.write_text(edited.read_text() + "# my note\n")
    r = tadt_cli("install", root)
    assert "edited" in r.stderr and edited.read_text().endswith("# my note\n")
    r = tadt_cli("uninstall", root, check=False)
    assert r.returncode == 1
    assert sorted(p.name for p in pdir.iterdir() if p.name != "__pycache__") == [
        ".tadt-plugin-shim.json", "mine.py", "rank_off.py"]
    assert not (pdir / "default.py").exists()
    tadt_cli("install", root, "--force")
    assert "# my note" not in edited.read_text()


def test_local_py_created_and_completed(tmp_path):
    from tadt_plugin.pytracking import install as inst
    root = clone(tmp_path / "pt")
    local = root / "pytracking" / "evaluation" / "local.py"
    r = tadt_cli("install", root)
    assert "does not exist" in r.stdout and not local.exists(), "local.py is only written on request"
    tadt_cli("install", root, "--local-py", "--results-path", tmp_path / "res")
    fields, _ = inst.read_local_fields(local)
    assert fields["results_path"] == str(tmp_path / "res") and fields["otb_path"] == ""
    tadt_cli("install", root, "--otb-path", tmp_path / "otb", "--folder-path", tmp_path / "f")
    fields, _ = inst.read_local_fields(local)
    assert fields["otb_path"] == str(tmp_path / "otb") and fields["tadt_folder_path"] == str(tmp_path / "f")
    assert fields["results_path"] == str(tmp_path / "res")
    ns = {}
    exec(compile(local.read_text().replace("from pytracking.evaluation.environment import EnvSettings",
                                           "class EnvSettings: pass"), str(local), "exec"), ns)
    s = ns["local_env_settings"]()
    assert s.otb_path == str(tmp_path / "otb") and s.tadt_folder_path == str(tmp_path / "f")
    assert git_status(root).strip() == "", "local.py is git-ignored by pytracking"


@needs_deps
@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools needed to build the wheel")
def test_shims_work_with_a_non_editable_install(tmp_path):
    """`pip install .` (a wheel, not the editable finder): the shims import tadt_plugin by name only."""
    root = clone(tmp_path / "pt")
    tadt_cli("install", root)
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    import shutil
    src = tmp_path / "src"  # build from a copy: setuptools leaves build/ and *.egg-info in the source tree
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                                             ".pytest_cache", ".benchmarks", ".venv", "tests", "out",
                                                             "results"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(wheel_dir), str(src)], capture_output=True, text=True, cwd=tmp_path)
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip()[-300:]}")
    whl = next(wheel_dir.glob("tadt_plugin-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(whl)],
                   check=True, capture_output=True)
    code = ("import importlib, sys, tadt_plugin, tadt_plugin.parameter as p\n"
            "print(tadt_plugin.__file__)\n"
            "cls = importlib.import_module('pytracking.tracker.tadt').get_tracker_class()\n"
            "assert sys.modules[cls.__module__].__file__.startswith(sys.argv[1]), cls\n"
            "for s in p.available():\n"
            "    params = importlib.import_module('pytracking.parameter.tadt.' + s).parameters()\n"
            "    assert params.debug == 0 and hasattr(params, 'rank_mode'), s\n")
    r = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{root}"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(site)), r.stdout


# ------------------------------------------------------------------------------------------------ in-process
@pytest.fixture(scope="module")
def pt(tmp_path_factory):
    """One clone with shims and a local.py, activated in this process (pytracking imports once)."""
    if _missing:
        pytest.skip(f"pytracking's pip packages missing: {', '.join(_missing)}")
    base = tmp_path_factory.mktemp("ptmod")
    root = clone(base / "pt")
    tadt_cli("install", root, "--local-py", "--results-path", base / "results", "--result-plot-path",
             base / "plots", "--otb-path", SEQ_ROOT, "--got10k-path", base / "got10k")
    from tadt_plugin.pytracking.checkout import activate, stub_tikzplotlib
    activate(root)
    stub_tikzplotlib()
    import matplotlib
    matplotlib.use("Agg")
    from tadt_plugin.pytracking import datasets
    datasets.register(str(SEQ_ROOT))
    return {"root": root, "results": base / "results", "base": base}


def parameter_module(name):
    import importlib
    return importlib.import_module(f"pytracking.parameter.tadt.{name}")


@needs_deps
def test_params_roundtrip(pt):
    from pytracking.utils import TrackerParams
    from tadt_plugin import parameter
    from tadt_plugin.pytracking.params import from_tracker_params, to_tracker_params

    for name in parameter.available():
        tp = parameter.load(name)
        params = parameter_module(name).parameters()  # through the installed shim
        assert isinstance(params, TrackerParams)
        assert params.debug == 0 and params.visualization is False
        assert params.use_gpu == (params.device != "cpu")
        back = from_tracker_params(params)
        expected = tp.replace(device=params.device)
        assert back == expected, name
    p = to_tracker_params(parameter.load("default").replace(device="cuda:0"))
    assert p.use_gpu and p.device == "cuda:0"
    p.use_gpu = False
    assert from_tracker_params(p).device == "cpu", "use_gpu=False must mean the CPU, as in stock trackers"
    p = to_tracker_params(parameter.load("cpu"))
    assert (p.use_gpu, p.device) == (False, "cpu")
    p.rank_mode = "off"
    assert from_tracker_params(p).rank_mode == "off"


@needs_deps
@needs_data
def test_datasets_otb_local_and_folder(pt):
    from pytracking.evaluation import get_dataset
    from tadt_plugin.sequences import load_boxes

    otb = get_dataset("otb_local")
    assert sorted(s.name for s in otb) == OTB8
    human3 = otb["Human3"]
    assert len(human3.frames) == 199 == len(human3.ground_truth_rect), "local Human3 is the first 199 frames"
    sk = otb["Skiing"]
    assert len(sk.frames) == 81 and sk.dataset == "otb"
    np.testing.assert_allclose(sk.ground_truth_rect, load_boxes(SEQ_ROOT / "Skiing" / "groundtruth_rect.txt"))
    folder = get_dataset("folder")
    names = sorted(s.name for s in folder)
    assert set(OTB8) <= set(names) and "horse" in names
    assert folder["horse"].frames[0].endswith(".png") and len(folder["horse"].frames) == 348
    assert folder["Skiing"].frames == sk.frames
    assert folder["Skiing"].init_info()["init_bbox"] == list(sk.ground_truth_rect[0])


@needs_deps
def test_atomic_save_same_files_and_nothing_on_failure(pt, tmp_path):
    import pytracking.evaluation.running as running
    from types import SimpleNamespace
    from tadt_plugin.pytracking import atomic

    atomic.install()
    assert atomic.installed()
    original = running._save_tracker_output.__wrapped__
    seq = SimpleNamespace(name="Demo", frames=[f"/x/{i:04d}.jpg" for i in range(1, 4)], dataset="otb", object_ids=None)
    out = {"target_bbox": [[1.5, 2.5, 10.2, 20.9], [2, 3, 10, 20], [3, 4, 11, 21]], "time": [0.5, 0.1, 0.1],
           "object_presence_score": [1.0, 0.8, 0.7], "segmentation": []}

    def tracker(d):
        return SimpleNamespace(results_dir=str(d), segmentation_dir=str(d / "seg"), name="t", parameter_name="p",
                               run_id=None, display_name=None)
    original(seq, tracker(tmp_path / "plain"), out)
    running._save_tracker_output(seq, tracker(tmp_path / "atomic"), out)
    plain = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert plain == ["Demo.txt", "Demo_object_presence_scores.txt", "Demo_time.txt"]
    assert sorted(p.name for p in (tmp_path / "atomic").iterdir()) == plain, "no temporary folder may be left"
    for n in plain:
        assert (tmp_path / "atomic" / n).read_bytes() == (tmp_path / "plain" / n).read_bytes()

    bad = dict(out, time=["not a number"] * 3)  # the writer fails after the box file
    with pytest.raises(ValueError):
        original(seq, tracker(tmp_path / "plain2"), bad)
    assert (tmp_path / "plain2" / "Demo.txt").exists(), "pytracking's writer leaves a 'done' box file behind"
    with pytest.raises(ValueError):
        running._save_tracker_output(seq, tracker(tmp_path / "atomic2"), bad)
    assert list((tmp_path / "atomic2").iterdir()) == [], "the atomic writer leaves nothing behind"


@needs_deps
def test_adapter_logs_traceback_and_reraises(pt, capfd):
    from tadt_plugin.pytracking.tracker import TADT, get_tracker_class

    assert get_tracker_class() is TADT and TADT.multiobj_mode == "parallel"
    params = parameter_module("cpu").parameters()
    t = TADT(params)
    t.initialize_features()
    core = t.core
    assert hasattr(t, "initialize_features") and core is not None
    img = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(Exception):
        t.initialize(img, {"init_bbox": [10.0, 10.0, 0.0, 5.0]})  # zero-width box
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" in err and "TADT.initialize()" in err
    assert err.count("Traceback (most recent call last)") == 1
    # the core goes back to the pool with the tracker object and is reused by the next one
    del t
    import gc
    gc.collect()
    t2 = TADT(parameter_module("cpu").parameters())
    t2.initialize_features()
    assert t2.core is core


@needs_deps
@needs_data
@pytest.mark.skipif(not (RESULTS_ROOT / "TADT").is_dir(), reason=f"no authors' results at {RESULTS_ROOT / 'TADT'}")
def test_compare_imports_external_results_and_matches_our_metrics(pt, tmp_path):
    """The authors' TADT results on the 8 OTB sequences, imported and scored by pytracking's analysis: the AUC
    equals tadt_plugin.metrics (frame 1 scored and set to the ground truth, as pytracking does)."""
    from tadt_plugin import metrics
    from tadt_plugin.sequences import load_boxes

    out = tmp_path / "scores.json"
    r = tadt_cli("compare", "--pytracking", pt["root"], "--dataset_name", "otb_local", "--import-results",
                 f"TADT_authors={RESULTS_ROOT / 'TADT'},MCCT={RESULTS_ROOT / 'MCCT'}", "--trackers",
                 "TADT_authors,MCCT", "--report-name", "authors", "--json", out)
    assert "imported 8 result file(s)" in r.stdout
    assert "TADT_authors" in r.stdout and "| AUC" in r.stdout
    res = json.loads(out.read_text())
    assert res["sequences"] == OTB8
    plots = Path(res["report_dir"])
    assert (plots / "success_plot.pdf").is_file() and (plots / "precision_plot.pdf").is_file()
    for name in ("TADT_authors", "MCCT"):
        aucs, precs = [], []
        for s in OTB8:
            gt = load_boxes(SEQ_ROOT / s / "groundtruth_rect.txt")
            boxes = load_boxes(RESULTS_ROOT / name.replace("_authors", "") / f"{s}.txt")[: len(gt)]
            boxes[0] = gt[0]
            sc = metrics.evaluate(boxes, gt, start=0)
            aucs.append(sc["auc"])
            precs.append(sc["precision"])
        assert abs(res["scores"][name]["auc"] / 100 - np.mean(aucs)) < 0.01, name
        assert abs(res["scores"][name]["precision"] / 100 - np.mean(precs)) < 0.01, name


# ------------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
@needs_deps
def test_stock_run_tracker_then_wrapper_and_analysis(pt, tmp_path, synthetic_root):
    """Stock `python run_tracker.py tadt default` on SynA (GOT-10k-style val split of symlinks), then the
    `folder` wrapper (finds the finished result and skips it), then pytracking's analysis vs our metrics."""
    from tadt_plugin import metrics
    from tadt_plugin.pytracking.got10k import make_split
    from tadt_plugin.sequences import load_boxes

    root = pt["root"]
    n = 40  # SynA's length
    assert make_split(synthetic_root, pt["base"] / "got10k", ["SynA"]) == ["SynA"]
    r = subprocess.run([sys.executable, "run_tracker.py", "tadt", "default", "--dataset_name", "got10k_val",
                        "--sequence", "SynA"], cwd=root / "pytracking", capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg"), timeout=900)
    assert r.returncode == 0, r.stderr
    assert "FPS:" in r.stdout and "Traceback" not in r.stderr, r.stdout + r.stderr
    res_dir = pt["results"] / "tadt" / "default"
    boxes = load_boxes(res_dir / "SynA.txt")
    assert boxes.shape == (n, 4)
    assert len((res_dir / "SynA_time.txt").read_text().split()) == n
    assert len((res_dir / "SynA_object_presence_scores.txt").read_text().split()) == n
    assert not [p for p in res_dir.iterdir() if p.name.startswith(".")], "temporary files left behind"

    r = tadt_cli("run", "tadt", "default", "--dataset_name", "folder", "--sequence", "SynA",
                 "--pytracking", root, "--folder", synthetic_root)
    assert "FPS: -1" in r.stdout, "the wrapper must find the same sequence and see it is done"

    out = tmp_path / "scores.json"
    r = tadt_cli("compare", "--pytracking", root, "--dataset_name", "folder", "--folder", synthetic_root,
                 "--sequences", "SynA", "--trackers", "tadt/default", "--json", out)
    res = json.loads(out.read_text())
    gt = load_boxes(synthetic_root / "SynA" / "groundtruth_rect.txt")
    ours = metrics.evaluate(boxes, gt, start=0)
    assert abs(res["scores"]["tadt_default"]["auc"] / 100 - ours["auc"]) < 0.01
    assert abs(res["scores"]["tadt_default"]["precision"] / 100 - ours["precision"]) < 0.01
    assert git_status(root) == ""
