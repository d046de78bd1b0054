"""`tadt run` fanned out over Ray (issue 12): ``--workers N`` on this machine, ``--ray-address`` on a cluster,
``--dataset NAME`` for pytracking's datasets.

How the work is split: one sequence is one task, tracked from start to end by one worker, so a fan-out
run gives the boxes of a serial run with the same thread count.  A worker is a Ray actor
(:class:`SequenceWorker`) that builds the backbone once and then tracks sequence after sequence with the
shared single-sequence loop :func:`tadt_plugin.runner.track_frames`.  The driver (this process) hands a
sequence to whichever worker is free, longest sequences first (so one long sequence does not start
last and leave the other workers idle), and is the only process that writes results: the worker sends
back the boxes and times (a few kB per sequence), the driver writes them with
:func:`tadt_plugin.sequences.write_boxes_atomic`, exactly the files and bytes of the serial ``tadt run``
(``<Name>_time.txt`` first, ``<Name>.txt`` -- the resume marker -- last).  The frames must be readable at
the same path on every node; the results folder only on the driver's machine.

Faults: a worker whose process or node dies is restarted by Ray (``max_restarts``) and its sequence
re-run from the first frame on the new worker (``max_task_retries = --retries``).  Ray hands each task's
result to the driver once, and the driver writes on receipt, so nothing is half-written or written
twice.  A sequence that still fails (worker died on every try, or the tracker raised) is named in the
summary and the exit status is 1.

Threads: each worker reserves ``--cpus-per-worker`` CPUs (default: this machine's cores / N) and
``--gpus-per-worker`` GPUs (fractions share one GPU) from Ray, and sets torch's thread count to the CPUs
it reserved (``--threads`` may lower it), so N workers never oversubscribe the cores.

Ray is an optional extra (``pip install 'tadt-plugin[ray]'``); it is imported only here.  Ray's usage
statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``) unless the user set that variable.
"""
from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .errors import TadtError

RAY_HINT = "pip install 'tadt-plugin[ray]'"
OBJECT_STORE_BYTES = 200 * 2 ** 20   # only boxes and times travel through it
PROGRESS_EVERY_S = 0.5


@dataclass
class Task:
    """One sequence: what a worker needs to track it (frame paths on shared storage, the first box)."""
    name: str
    frames: List[str]
    init_box: List[float]


@dataclass(eq=False)
class Job:
    task: Task
    ground_truth: object            # N x 4 array, for the summary line and the table


# ----------------------------------------------------------------------------------------------- worker
class _Reporter:
    """tqdm-like .update(k) for track_frames, sending frame counts to the Progress actor in batches."""

    def __init__(self, send, name: str):
        self.send, self.name, self.pending, self.last = send, name, 0, time.monotonic()

    def update(self, k: int = 1) -> None:
        self.pending += k
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.send(self.name, self.pending)
        self.pending, self.last = 0, time.monotonic()


class SequenceWorker:
    """Builds the tracker once (backbone, weights) and tracks whole sequences with track_frames."""

    def __init__(self, params, threads: int, progress_name: Optional[str] = None):
        import torch
        from .tracker import TadtTracker
        torch.set_num_threads(threads)
        self.params = params.replace(num_threads=threads)
        self.tracker = TadtTracker(self.params)
        # The Progress actor is looked up by name, not passed in: Ray warns that a restartable actor whose
        # constructor holds an actor handle may not restart.
        self.progress_name, self.progress = progress_name, None

    def info(self) -> dict:
        import torch
        return {"pid": os.getpid(), "host": socket.gethostname(), "threads": torch.get_num_threads(),
                "device": str(self.tracker.device)}

    def run(self, task: Task, local_bar=None) -> dict:
        """Track one sequence.  Frame counts go to the Progress actor (Ray) or to local_bar (in-process)."""
        from .runner import track_frames
        from .sequences import Sequence_
        attempt = 1
        if self.progress_name is not None:
            import ray
            if self.progress is None:
                self.progress = ray.get_actor(self.progress_name)
            attempt = ray.get(self.progress.start.remote(task.name, os.getpid()))
            send = lambda name, k: self.progress.add.remote(name, k)  # noqa: E731
        else:
            send = lambda name, k: local_bar.update(k) if local_bar is not None else None  # noqa: E731
        seq = Sequence_(name=task.name, frames=[Path(f) for f in task.frames])
        bar = _Reporter(send, task.name)
        res = track_frames(self.tracker, seq.iter_frames(), task.init_box, progress=bar)
        bar.flush()
        return {"name": task.name, "boxes": res.boxes, "confidences": res.confidences,
                "init_seconds": res.init_seconds, "frame_times": res.frame_times,
                "track_seconds": res.track_seconds, "init_info": res.init_info, "pid": os.getpid(),
                "host": socket.gethostname(), "attempt": attempt}


class Progress:
    """Frames done per sequence (reset when a sequence restarts on a new worker) and tries per sequence."""

    def __init__(self):
        self.done: Dict[str, int] = {}
        self.attempts: Dict[str, int] = {}
        self.pids: Dict[str, int] = {}

    def start(self, name: str, pid: int) -> int:
        self.attempts[name] = self.attempts.get(name, 0) + 1
        self.done[name] = 0
        self.pids[name] = pid
        return self.attempts[name]

    def add(self, name: str, k: int) -> None:
        self.done[name] = self.done.get(name, 0) + k

    def snapshot(self):
        return sum(self.done.values()), dict(self.attempts)


# ----------------------------------------------------------------------------------------------- Ray set-up
LOOPBACK_HOSTS = ("127.", "localhost", "::1", "[::1]")


def keeps_to_loopback(address: Optional[str]) -> bool:
    """A run on this machine alone: in-process Ray, or a cluster address on the loopback interface."""
    return not address or address.split("://", 1)[-1].startswith(LOOPBACK_HOSTS)


def import_ray(what: str, loopback: bool = False):
    """Import Ray; with loopback, keep it on 127.0.0.1.  Ray otherwise "resolves" 127.0.0.1 to this
    machine's network address (services.resolve_ip_for_localhost) and binds its servers there; its
    single-machine mode (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read when Ray is imported) binds every
    server to 127.0.0.1, so a local run opens no port on the network."""
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise TadtError(f"{what} runs on Ray, which is not installed: {RAY_HINT}") from None
    return ray


def check_address(address: str) -> str:
    """A reachable host:port (or 'auto' resolved), else a one-line TadtError.  Ray itself retries a bad
    address for minutes, so the TCP port is tried first, with a short timeout."""
    from ray._private.services import canonicalize_bootstrap_address
    shown = address
    if address == "auto":
        try:  # RAY_ADDRESS, else the newest cluster `ray start` left on this machine, else any found
            address = os.environ.get("RAY_ADDRESS") or canonicalize_bootstrap_address("auto")
        except Exception as exc:
            raise TadtError(f"--ray-address auto: {exc}") from None
        if not address:
            raise TadtError("--ray-address auto: no running Ray cluster found on this machine "
                            "(start one with `ray start --head`, or give HEAD:6379)")
        shown = f"auto ({address})"
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise TadtError(f"--ray-address {shown}: expected HOST:PORT (e.g. 10.0.0.1:6379) or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as exc:
        raise TadtError(f"--ray-address {shown}: cannot connect ({exc.strerror or exc}); is "
                        f"`ray start --head` running there?") from None
    return address


def start_ray(ray, address: Optional[str], num_cpus: Optional[float]) -> None:
    import logging
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    try:
        if address:
            address = check_address(address)
            _use_cluster_token()
            ray.init(address=address, **kwargs)
        else:
            # address="local": a new instance in this process, even where $RAY_ADDRESS names a cluster
            ray.init(address="local", num_cpus=num_cpus, object_store_memory=OBJECT_STORE_BYTES, **kwargs)
    except TadtError:
        raise
    except Exception as exc:  # ConnectionError, version mismatch, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TadtError(f"Ray could not start{' at --ray-address ' + address if address else ''}: {first}") from None


def _use_cluster_token() -> None:
    """Ray 2.60 (tested): `ray start --head` turns on token authentication when a token exists (~/.ray/auth_token,
    $RAY_AUTH_TOKEN or $RAY_AUTH_TOKEN_PATH) and RAY_AUTH_MODE is unset, but a driver joining the cluster
    does not, and the cluster then refuses it.  Apply `ray start`'s rule here too; an explicit
    RAY_AUTH_MODE is left alone, and older Rays have no such module."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available)
    except ImportError:
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def fitting_workers(ray, cpus: float, gpus: float) -> int:
    """How many workers of this size the live nodes can hold."""
    n = 0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        r = node.get("Resources", {})
        k = math.floor(r.get("CPU", 0) / cpus + 1e-9) if cpus > 0 else 10 ** 6
        if gpus > 0:
            k = min(k, math.floor(r.get("GPU", 0) / gpus + 1e-9))
        n += k
    return n


# ----------------------------------------------------------------------------------------------- inputs
def load_jobs(args):
    """(jobs in input order, pytracking writer or None).  OTB roots as in `tadt run`; --dataset via pytracking."""
    names = [s for s in args.sequences.split(",") if s] if args.sequences else None
    if args.dataset:
        if args.seq_root:
            raise TadtError("give either SEQ_ROOT or --dataset, not both")
        from .pytracking.fanout_data import PytrackingWriter, load
        seqs, inits, pt_seqs = load(args.dataset, names)
        writer = PytrackingWriter(pt_seqs, args.param)
    else:
        from .sequences import discover_sequences
        seqs = discover_sequences(args.seq_root, names)
        if not seqs:
            raise TadtError(f"no OTB-layout sequences (<Name>/img + groundtruth_rect.txt) under {args.seq_root}")
        inits = [s.ground_truth[0].tolist() for s in seqs]
        writer = None
    jobs = [Job(Task(s.name, [str(f) for f in s.frames], list(map(float, b))), s.ground_truth)
            for s, b in zip(seqs, inits)]
    return jobs, writer


def write_results(out: Path, r: dict, writer=None) -> None:
    """The serial `tadt run`'s files and formats; the box file (resume marker) last."""
    from .sequences import write_boxes_atomic
    name = r["name"]
    times = [r["init_seconds"]] + list(r["frame_times"])
    if writer is not None:
        writer.write(name, r["boxes"], times, r["confidences"])
    write_boxes_atomic(out / f"{name}_time.txt", [[t] for t in times], fmt="{:.6f}")
    write_boxes_atomic(out / f"{name}.txt", r["boxes"])


def summary_line(r: dict, gt) -> str:
    from . import metrics
    n = len(r["boxes"]) - 1
    fps = n / r["track_seconds"] if r["track_seconds"] > 0 and n > 0 else float("nan")
    score = ""
    if gt is not None and len(gt) >= len(r["boxes"]):
        sc = metrics.evaluate(r["boxes"], gt[: len(r["boxes"])], start=1)
        score = f"AUC {sc['auc']:.3f} prec {sc['precision']:.3f} | "
    info = r["init_info"]
    again = f", try {r['attempt']}" if r.get("attempt", 1) > 1 else ""
    return (f"{r['name']}: {score}{fps:.2f} FPS, init {r['init_seconds']:.1f} s | channels "
            f"conv4_1={info['channels_conv41']} conv4_3={info['channels_conv43']} | worker pid {r['pid']} "
            f"on {r['host']}{again}")


def final_table(jobs: List[Job], out: Path) -> None:
    """`tadt eval`'s table and success plot over every sequence of the run that has a result."""
    from . import metrics
    from .evaluation import Table, find_result, format_table, save_success_plot
    from .sequences import load_boxes
    scores, names = {}, []
    for j in jobs:
        path = find_result(out, j.task.name)
        gt = j.ground_truth
        if path is None or gt is None:
            continue
        boxes = load_boxes(path)
        if len(gt) < len(boxes):  # e.g. test splits with only the first box public
            continue
        names.append(j.task.name)
        scores[("tadt", j.task.name)] = metrics.evaluate(boxes, gt[: len(boxes)], start=1)
    if not names:
        print("no ground truth to score this run against (test split?): no table")
        return
    table = Table(["tadt"], names, scores)
    print(format_table(table, start=2))
    plot = out / "success_plot.png"
    save_success_plot(table, plot)
    print(f"success plot -> {plot}")


# ----------------------------------------------------------------------------------------------- the run
def plan_resources(args, local: bool):
    """(workers, cpus per worker, gpus per worker, torch threads per worker)."""
    n = args.workers
    if n is not None and n < 1:
        raise TadtError(f"--workers {n}: must be 1 or more")
    cores = os.cpu_count() or 1
    cpus = args.cpus_per_worker
    if cpus is None:
        cpus = max(1, cores // (n or cores)) if local else 1
    if cpus <= 0:
        raise TadtError(f"--cpus-per-worker {cpus}: must be above 0")
    gpus = args.gpus_per_worker or 0.0
    if gpus < 0:
        raise TadtError(f"--gpus-per-worker {gpus}: must be 0 or more")
    threads = max(1, int(cpus))
    if args.threads:
        if args.threads > threads:
            raise TadtError(f"--threads {args.threads} > the {cpus:g} CPU(s) each worker reserves: the workers "
                            f"would oversubscribe the cores; raise --cpus-per-worker or lower --threads")
        threads = args.threads
    return n, float(cpus), float(gpus), threads


def run_fanout(args) -> int:
    from tqdm import tqdm
    from .cli import build_params

    jobs, writer = load_jobs(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def done(j: Job) -> bool:
        return (out / f"{j.task.name}.txt").exists() and (writer is None or writer.done(j.task.name))
    todo = [j for j in jobs if args.force or not done(j)]
    for j in jobs:
        if j not in todo:
            print(f"{j.task.name}: done already ({out / (j.task.name + '.txt')}), skipped")
    if writer is not None:
        print(f"pytracking results -> {writer.results_dir}")
    if not todo:
        final_table(jobs, out)
        return 0

    local = not args.ray_address
    n, cpus, gpus, threads = plan_resources(args, local)
    params = build_params(args)
    if gpus > 0 and not getattr(args, "device", None):
        params = params.replace(device="cuda")
    by_name = {j.task.name: j for j in todo}
    order = sorted(todo, key=lambda j: -len(j.task.frames))  # longest first: shortest makespan
    total = sum(len(j.task.frames) for j in todo)
    t_start = time.perf_counter()

    use_ray = not (local and (n or 1) == 1)
    ray = None
    if use_ray:  # before any output, so a missing Ray or a bad address is the only line printed
        ray = import_ray(f"--workers {n}" if local else "--ray-address", keeps_to_loopback(args.ray_address))
        start_ray(ray, args.ray_address, None)
    failed: Dict[str, str] = {}
    finished = 0
    n_workers = 1
    try:
        if use_ray:
            n_workers = size_pool(ray, n, cpus, gpus, len(order))
        bar = tqdm(total=total, desc="tadt run", unit="frame", disable=args.quiet, file=sys.stderr,
                   smoothing=0.1)

        def post(r: dict) -> None:
            nonlocal finished
            write_results(out, r, writer)
            finished += 1
            bar.set_postfix_str(f"{finished}/{len(todo)} sequences done, {len(failed)} failed")
            tqdm.write(summary_line(r, by_name[r["name"]].ground_truth), file=sys.stdout)

        try:
            if not use_ray:  # --dataset with one local worker: the same worker class, in this process
                w = SequenceWorker(params, threads)
                for j in order:
                    try:
                        r = w.run(j.task, local_bar=bar)
                    except (TadtError, ValueError) as exc:
                        failed[j.task.name] = str(exc)
                        continue
                    post(r)
            else:
                _dispatch(ray, args, order, params, n_workers, cpus, gpus, threads, bar, failed, post)
        finally:
            bar.close()
    finally:
        if ray is not None:
            ray.shutdown()

    wall = time.perf_counter() - t_start
    frames_done = sum(len(by_name[nm].task.frames) for nm in by_name if nm not in failed)
    print(f"run: {finished} of {len(todo)} sequences tracked, {frames_done} frames in {wall:.1f} s wall = "
          f"{frames_done / wall:.2f} frames/s overall ({n_workers} worker(s), "
          f"{threads} thread(s) each)")
    for name, why in failed.items():
        print(f"tadt: error: {name}: {why}", file=sys.stderr)
    if failed:
        print(f"tadt: error: {len(failed)} sequence(s) failed: {', '.join(failed)}", file=sys.stderr)
    final_table(jobs, out)
    return 1 if failed else 0


def size_pool(ray, n: Optional[int], cpus: float, gpus: float, n_seqs: int) -> int:
    """The number of workers to start: --workers, capped by what the cluster holds and by the sequences."""
    fit = fitting_workers(ray, cpus, gpus)
    res = ray.cluster_resources()
    have = f"{res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"
    if fit < 1:
        raise TadtError(f"no Ray node has room for one worker of {cpus:g} CPU(s) and {gpus:g} GPU(s) (cluster: "
                        f"{have}); lower --cpus-per-worker / --gpus-per-worker")
    if n is None:
        n = fit
    elif n > fit:
        print(f"tadt: warning: only {fit} of the {n} workers fit in the cluster ({have}, at {cpus:g} CPU / "
              f"{gpus:g} GPU each); using {fit}", file=sys.stderr)
        n = fit
    return max(1, min(n, n_seqs))


def _dispatch(ray, args, order: List[Job], params, n: int, cpus, gpus, threads, bar, failed, post) -> None:
    """Hand sequences to free workers until every one is written or failed."""
    from ray.exceptions import RayActorError, RayTaskError

    retries = max(0, args.retries)
    progress_name = f"tadt-progress-{os.getpid()}-{time.time_ns()}"
    progress = ray.remote(Progress).options(num_cpus=0, name=progress_name).remote()
    worker_cls = ray.remote(SequenceWorker).options(
        num_cpus=cpus, num_gpus=gpus, max_task_retries=retries,
        # every death of a worker is a try of one sequence, so this bound is never the one that stops a run
        max_restarts=(retries + 1) * len(order))
    workers = [worker_cls.remote(params, threads, progress_name) for _ in range(n)]
    starting = {w.info.remote(): w for w in workers}
    idle: list = []
    inflight: dict = {}
    queue = deque(order)
    attempts_seen: Dict[str, int] = {}
    last_poll = 0.0
    while queue or inflight:
        while idle and queue:
            w, job = idle.pop(), queue.popleft()
            inflight[w.run.remote(job.task)] = (w, job)
        pending = list(inflight) + list(starting)
        if not pending:  # every worker failed to start
            for job in queue:
                failed[job.task.name] = "no worker could start (see the messages above)"
            break
        ready, _ = ray.wait(pending, num_returns=1, timeout=PROGRESS_EVERY_S)
        if time.monotonic() - last_poll >= PROGRESS_EVERY_S or ready:
            last_poll = time.monotonic()
            try:
                frames, attempts = ray.get(progress.snapshot.remote(), timeout=10)
                if frames != bar.n:
                    bar.n = min(frames, bar.total)
                    bar.refresh()
                for name, k in attempts.items():
                    if k > attempts_seen.get(name, 1):
                        bar.write(f"{name}: its worker died; Ray restarted the worker and {name} from its "
                                  f"first frame (try {k} of {retries + 1})", file=sys.stderr)
                    attempts_seen[name] = k
            except Exception:  # progress is cosmetic: never let it stop a run
                pass
        for ref in ready:
            if ref in starting:
                w = starting.pop(ref)
                try:
                    ray.get(ref)
                    idle.append(w)
                except (RayActorError, RayTaskError) as exc:
                    bar.write(f"tadt: warning: a worker could not start: {_last_line(exc)}", file=sys.stderr)
                continue
            w, job = inflight.pop(ref)
            try:
                r = ray.get(ref)
            except RayTaskError as exc:  # the tracker raised: the sequence fails, the worker goes on
                failed[job.task.name] = _last_line(exc)
                idle.append(w)
                bar.set_postfix_str(f"{len(failed)} failed")
                continue
            except RayActorError as exc:  # the worker died on every try
                failed[job.task.name] = f"its worker died on all {retries + 1} tries ({_last_line(exc)})"
                starting[w.info.remote()] = w  # still usable if Ray can restart it
                continue
            post(r)
            idle.append(w)
    for w in workers:
        ray.kill(w)


def _last_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if cause is not None and not isinstance(cause, type):
        text = f"{type(cause).__name__}: {cause}"
    else:
        text = str(exc)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
