"""`tadt run` fanned out over Ray (issue 12), with real Ray clusters on loopback and nothing mocked.

Sequences: three generated ones (tadt_plugin/synthetic.py, 20 frames of 320x240), so no shared data is
needed.  Every tracking run is a `tadt run` subprocess; a serial run with one torch thread is the
reference, and each fan-out worker runs one thread too, so the boxes must be the same.  Clusters: the
one `tadt run --workers 2` starts in its own process (ray.init), and one started with
`ray start --head --node-ip-address 127.0.0.1 --block` as a subprocess and joined with --ray-address.
Every cluster is stopped in teardown: the head subprocess is terminated, then any process still naming
its temp folder is killed by pid (never `ray stop`, which would stop every Ray instance on the machine).

CPU cost (2 cores): five short tracking runs (two of them over two 80-frame sequences), about 2-3 minutes
in all on an idle machine.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tadt_plugin.sequences import load_boxes
from tadt_plugin.synthetic import SyntheticSequence

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is not installed (pip install 'tadt-plugin[ray]'); CI installs it")

NAMES = ["S0", "S1", "S2"]
N_FRAMES = 20
LONG_FRAMES = 80   # the worker-kill test: sequences long enough that a kill 1 s into one lands mid-sequence
RUN_TIMEOUT = 600
PT_ROOT = Path(os.environ.get("PYTRACKING_ROOT", "~/pytracking")).expanduser()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_tmp():
    """A short private Ray temp folder (Unix socket paths must stay short); removed afterwards."""
    d = tempfile.mkdtemp(prefix="/tmp/tadtray")
    yield d
    kill_processes_naming(d)
    shutil.rmtree(d, ignore_errors=True)


def env_for(ray_tmp, **extra):
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: the `ray start` head binds to 127.0.0.1, not to this machine's
    # network address (fanout.import_ray does the same for the driver)
    e = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_TMPDIR=ray_tmp, OMP_NUM_THREADS="1",
             MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    e.pop("RAY_ADDRESS", None)
    e.update(extra)
    return e


def tadt(args, env, timeout=RUN_TIMEOUT, code=None):
    """`tadt ARGS` in a subprocess; code: Python run instead of the console script (sys.argv = ARGS)."""
    cmd = [sys.executable, "-c", code or "import sys; from tadt_plugin.cli import main; sys.exit(main())",
           *map(str, args)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def kill_processes_naming(text: str) -> None:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            try:
                os.kill(int(p.name), signal.SIGKILL)
            except OSError:
                pass


def _procs():
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            yield int(p.name), ppid, cmd


def worker_pids(head_tmp: str, title: str = "ray::SequenceWorker.run"):
    """Workers of the cluster whose temp folder is head_tmp (children of its raylet) running `title`."""
    procs = list(_procs())
    raylets = {pid for pid, _, cmd in procs if "raylet" in cmd.split(" ")[0] and head_tmp in cmd}
    return [pid for pid, ppid, cmd in procs if ppid in raylets and cmd.startswith(title)]


def write_sequences(root: Path, n_frames: int) -> Path:
    """NAMES as generated OTB-layout sequences of n_frames frames under root."""
    for i, name in enumerate(NAMES):
        SyntheticSequence(n_frames=n_frames, seed=i + 3, name=name).write_otb(root / name)
    return root


@pytest.fixture(scope="module")
def otb_root(tmp_path_factory):
    return write_sequences(tmp_path_factory.mktemp("fanout") / "seqs", N_FRAMES)


def serial_run(root: Path, out: Path, ray_tmp) -> Path:
    """The reference: today's serial `tadt run`, one torch thread."""
    r = tadt(["run", root, "--out", out, "--threads", 1, "--quiet"], env_for(ray_tmp))
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def serial(otb_root, ray_tmp):
    return serial_run(otb_root, otb_root.parent / "serial", ray_tmp)


@pytest.fixture(scope="module")
def long_root(tmp_path_factory):
    """S0, S1 of LONG_FRAMES frames (S2 is given a finished result by the test, so it is never tracked)."""
    return write_sequences(tmp_path_factory.mktemp("fanout-long") / "seqs", LONG_FRAMES)


def assert_same_results(out: Path, ref: Path, names=NAMES, n_frames=N_FRAMES):
    for n in names:
        a, b = load_boxes(out / f"{n}.txt"), load_boxes(ref / f"{n}.txt")
        assert a.shape == b.shape == (n_frames, 4), n
        np.testing.assert_allclose(a, b, atol=1e-3, err_msg=n)
        assert (out / f"{n}.txt").read_bytes() == (ref / f"{n}.txt").read_bytes(), f"{n}: same bytes as serial"
        t = (out / f"{n}_time.txt").read_text().splitlines()
        assert len(t) == n_frames and all(float(x) >= 0 for x in t), n
    left = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert not left, f"temporary files left: {left}"


def test_local_workers_match_serial_and_resume(otb_root, serial, ray_tmp):
    """--workers 2 on this machine (Ray started in the tadt process): same boxes and files as serial, one
    progress bar, the eval table; a second run skips everything without starting Ray."""
    out = otb_root.parent / "local2"
    env = env_for(ray_tmp)
    r = tadt(["run", otb_root, "--out", out, "--workers", 2, "--cpus-per-worker", 1], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_results(out, serial)
    assert sorted(p.name for p in out.iterdir()) == sorted([p.name for p in serial.iterdir()] + ["success_plot.png"])
    for n in NAMES:
        assert sum(line.startswith(f"{n}: AUC") for line in r.stdout.splitlines()) == 1, r.stdout
    assert f"3 of 3 sequences tracked, {3 * N_FRAMES} frames" in r.stdout
    assert "(2 worker(s), 1 thread(s) each)" in r.stdout
    assert "OTB success AUC" in r.stdout and "mean" in r.stdout and (out / "success_plot.png").stat().st_size > 0
    assert f"{3 * N_FRAMES}/{3 * N_FRAMES}" in r.stderr, "one bar over all frames of all sequences"
    assert "3/3 sequences done, 0 failed" in r.stderr
    assert "Traceback" not in r.stderr

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("S*.txt")}
    r = tadt(["run", otb_root, "--out", out, "--workers", 2, "--quiet"], env,
             code="import sys; sys.modules['ray'] = None; from tadt_plugin.cli import main; sys.exit(main())")
    assert r.returncode == 0, r.stderr
    assert sum("done already" in line for line in r.stdout.splitlines()) == 3
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("S*.txt")} == before


def listening_addresses(port: int) -> set:
    """Local addresses of the sockets listening on port (from /proc/net/tcp and tcp6)."""
    import ipaddress
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, p = local.split(":")
            if state != "0A" or int(p, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))   # per-word little endian
            ip = ipaddress.ip_address(raw)
            found.add(str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip))
    return found


@pytest.fixture
def head(ray_tmp):
    """`ray start --head` on loopback, as a subprocess; terminated and cleaned up afterwards."""
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="/tmp/tadthead")
    log = open(os.path.join(tmp, "head.log"), "w")
    proc = subprocess.Popen(["ray", "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             "--num-cpus", "2", "--include-dashboard", "false", "--object-store-memory",
                             str(100 * 2 ** 20), "--disable-usage-stats", "--temp-dir", tmp, "--block"],
                            env=env_for(ray_tmp), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"ray start --head failed: {open(log.name).read()[-2000:]}")
                time.sleep(0.5)
        assert listening_addresses(port) == {"127.0.0.1"}, "the head must listen on loopback only"
        yield f"127.0.0.1:{port}", tmp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        kill_processes_naming(tmp)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_cluster_address_worker_killed_midrun(long_root, ray_tmp, head):
    """Join a `ray start --head` cluster with --ray-address; S2 is already done (resume); a worker is
    killed by pid while tracking: Ray restarts it and the sequence, the run completes, every result is
    complete, equal to serial, and written once.  The sequences are LONG_FRAMES long so that the kill, 1 s
    after a worker is first seen in `run`, lands mid-sequence even on a loaded machine (with 20 frames a
    worker could finish its sequence first, and then nothing is restarted)."""
    address, head_tmp = head
    serial = long_root.parent / "serial"
    (long_root.parent / "serial-in").mkdir()
    for n in ("S0", "S1"):   # the reference tracks only what the cluster run tracks
        shutil.copytree(long_root / n, long_root.parent / "serial-in" / n)
    serial_run(long_root.parent / "serial-in", serial, ray_tmp)
    out = long_root.parent / "cluster"
    out.mkdir()
    shutil.copy2(long_root / "S2" / "groundtruth_rect.txt", out / "S2.txt")   # a finished result stands in
    (out / "S2_time.txt").write_text("0.05\n" * LONG_FRAMES)
    done_before = (out / "S2.txt").stat().st_mtime_ns
    logs = long_root.parent / "cluster-logs"
    logs.mkdir()
    fo, fe = open(logs / "stdout", "w"), open(logs / "stderr", "w")  # files, not pipes: never blocks the run
    proc = subprocess.Popen([sys.executable, "-m", "tadt_plugin.cli", "run", str(long_root), "--out", str(out),
                             "--ray-address", address, "--workers", "2", "--cpus-per-worker", "1"],
                            env=env_for(ray_tmp), stdout=fo, stderr=fe)
    killed = None
    try:
        deadline = time.time() + RUN_TIMEOUT
        while killed is None and proc.poll() is None and time.time() < deadline:
            busy = worker_pids(head_tmp)
            if busy:
                time.sleep(1.0)  # into the sequence: past the worker's start, before its last frame
                busy = worker_pids(head_tmp)
                if busy:
                    killed = busy[0]
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
        proc.wait(timeout=max(1, deadline - time.time()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        fo.close()
        fe.close()
    stdout, stderr = (logs / "stdout").read_text(), (logs / "stderr").read_text()
    assert killed is not None, "no worker was seen tracking"
    assert proc.returncode == 0, stderr[-3000:]
    assert f"pid {killed} " not in stdout, f"the kill landed after the worker's sequence was done\n{stdout}"
    assert "its worker died; Ray restarted the worker" in stderr, stderr[-3000:]
    lines = stdout.splitlines()
    assert any("try 2" in ln for ln in lines), stdout
    for n in ("S0", "S1"):
        assert sum(ln.startswith(f"{n}: AUC") for ln in lines) == 1, f"{n} reported once\n{stdout}"
    assert sum("done already" in ln for ln in lines) == 1 and not any(ln.startswith("S2: AUC") for ln in lines)
    assert (out / "S2.txt").stat().st_mtime_ns == done_before, "a finished sequence is not written again"
    assert f"2 of 2 sequences tracked, {2 * LONG_FRAMES} frames" in stdout
    assert_same_results(out, serial, names=("S0", "S1"), n_frames=LONG_FRAMES)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
    assert len(lines) == 1 and lines[0].startswith("tadt: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_missing_ray_bad_address_and_bad_values(otb_root, ray_tmp, tmp_path):
    """One-line errors, exit status 2, nothing tracked (so no tracking cost)."""
    env = env_for(ray_tmp)
    no_ray = "import sys; sys.modules['ray'] = None; from tadt_plugin.cli import main; sys.exit(main())"
    r = tadt(["run", otb_root, "--out", tmp_path / "a", "--workers", 2], env, code=no_ray, timeout=120)
    one_line_error(r, "--workers 2", "pip install 'tadt-plugin[ray]'")
    # without Ray, --workers 1 is today's path (here every sequence has a result, so nothing is tracked)
    done = tmp_path / "done"
    done.mkdir()
    for n in NAMES:
        shutil.copy(otb_root / n / "groundtruth_rect.txt", done / f"{n}.txt")
    r = tadt(["run", otb_root, "--out", done, "--workers", 1], env, code=no_ray, timeout=120)
    assert r.returncode == 0 and r.stdout.count("done already") == 3, r.stderr

    port = free_port()  # nothing listens there
    t = time.time()
    r = tadt(["run", otb_root, "--out", tmp_path / "b", "--ray-address", f"127.0.0.1:{port}"], env, timeout=120)
    one_line_error(r, f"--ray-address 127.0.0.1:{port}", "cannot connect")
    assert time.time() - t < 60, "a bad address fails fast"
    r = tadt(["run", otb_root, "--out", tmp_path / "b", "--ray-address", "127.0.0.1"], env, timeout=120)
    one_line_error(r, "expected HOST:PORT")
    # auto takes RAY_ADDRESS first (else any Ray instance found on this machine, so not tested that way)
    r = tadt(["run", otb_root, "--out", tmp_path / "b", "--ray-address", "auto"],
             env_for(ray_tmp, RAY_ADDRESS=f"127.0.0.1:{port}"), timeout=120)
    one_line_error(r, f"--ray-address auto (127.0.0.1:{port})", "cannot connect")
    r = tadt(["run", otb_root, "--out", tmp_path / "c", "--workers", 2, "--threads", 2, "--cpus-per-worker", 1],
             env, timeout=120)
    one_line_error(r, "oversubscribe")
    r = tadt(["run", otb_root, "--out", tmp_path / "c", "--workers", 0], env, timeout=120)
    one_line_error(r, "--workers 0")
    r = tadt(["run", "--out", tmp_path / "c"], env, timeout=120)
    one_line_error(r, "SEQ_ROOT")


def _pt_ready() -> str:
    if not (PT_ROOT / "pytracking" / "evaluation").is_dir():
        return f"no pytracking checkout at {PT_ROOT} (set PYTRACKING_ROOT)"
    missing = [m for m in ("jpeg4py", "pandas", "visdom") if importlib.util.find_spec(m) is None]
    return f"pytracking's pip packages missing: {', '.join(missing)}" if missing else ""


@pytest.mark.skipif(bool(_pt_ready()), reason=_pt_ready() or "ok")
def test_unknown_pytracking_dataset(otb_root, ray_tmp, tmp_path):
    r = tadt(["run", "--dataset", "no_such_set", "--out", tmp_path / "d"], env_for(ray_tmp, PYTRACKING_ROOT=str(PT_ROOT)),
             timeout=300)
    one_line_error(r, "--dataset no_such_set", "pytracking has no dataset", "lasot")


@pytest.mark.skipif(bool(_pt_ready()), reason=_pt_ready() or "ok")
def test_pytracking_dataset_both_layouts(otb_root, serial, ray_tmp, tmp_path):
    """--dataset folder (pytracking's loader machinery, local.py): today's layout plus pytracking's results
    layout, which pytracking's own analysis reads (`tadt pytracking compare`)."""
    import json
    root = tmp_path / "pt"
    subprocess.run(["git", "clone", "-q", str(PT_ROOT), str(root)], check=True, timeout=300)
    env = env_for(ray_tmp, PYTRACKING_ROOT=str(root), TADT_FOLDER=str(otb_root))
    res = tmp_path / "ptres"
    r = subprocess.run([sys.executable, "-m", "tadt_plugin.pytracking", "install", str(root), "--local-py",
                        "--results-path", str(res)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    r = tadt(["run", "--dataset", "folder", "--sequences", "S0", "--out", out, "--threads", 1, "--quiet"], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_results(out, serial, names=["S0"])
    pt_dir = res / "tadt" / "default"
    ours = load_boxes(serial / "S0.txt")
    theirs = np.loadtxt(pt_dir / "S0.txt", delimiter="\t")
    assert theirs.shape == (N_FRAMES, 4) and np.all(theirs == np.round(theirs)), "pytracking's int boxes"
    assert np.abs(theirs - ours).max() <= 1.0
    assert len((pt_dir / "S0_time.txt").read_text().split()) == N_FRAMES
    assert len((pt_dir / "S0_object_presence_scores.txt").read_text().split()) == N_FRAMES
    assert not [p.name for p in pt_dir.iterdir() if p.name.startswith(".")]
    js = tmp_path / "scores.json"
    r = subprocess.run([sys.executable, "-m", "tadt_plugin.pytracking", "compare", "--pytracking", str(root),
                        "--dataset_name", "folder", "--folder", str(otb_root), "--sequences", "S0",
                        "--trackers", "tadt/default", "--json", str(js)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(js.read_text())["scores"]["tadt_default"]["auc"] > 50
