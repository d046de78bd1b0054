"""Bad input to every `tadt` subcommand: exit status 2 and one `error:` line naming the file, never a
traceback (docs/bad-input.md, "Files" table).  Each case runs the real command in a subprocess on
generated sequences, so nothing here needs ../shared."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tadt_plugin.synthetic import SyntheticSequence

N_FRAMES = 8
PT_ROOT = Path(os.environ.get("PYTRACKING_ROOT", "~/pytracking")).expanduser()


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """A folder of bad files next to one good generated sequence (seqs/Demo, 8 frames)."""
    d = tmp_path_factory.mktemp("bad")
    SyntheticSequence(n_frames=N_FRAMES).write_otb(str(d / "seqs" / "Demo"))
    gt_lines = (d / "seqs" / "Demo" / "groundtruth_rect.txt").read_text().splitlines()
    (d / "notvideo.mp4").write_text("this is text, not a video\n")
    (d / "outdir").mkdir()
    (d / "afile.txt").write_text("x\n")
    (d / "loop").symlink_to(d / "loop")
    zero = d / "zero_img"
    zero.mkdir()
    (zero / "0001.jpg").write_bytes(b"")
    for name, gt in (("empty_gt", ""), ("garbage_gt", "10,10,20,20\nhello world\n"),
                     ("binary_gt", None)):
        seq = d / "gtcases" / name
        (seq / "img").mkdir(parents=True)
        for f in sorted((d / "seqs" / "Demo" / "img").iterdir())[:2]:
            (seq / "img" / f.name).write_bytes(f.read_bytes())
        if gt is None:
            (seq / "groundtruth_rect.txt").write_bytes(b"\xff\xfe\x00\x81binary\x00\n")
        else:
            (seq / "groundtruth_rect.txt").write_text(gt)
    bad_root = d / "bad_root"   # an OTB root whose only sequence has a garbage ground truth
    bad_root.mkdir()
    os.symlink(d / "gtcases" / "garbage_gt", bad_root / "garbage_gt")
    for name, text in (("garbage", "garbage\n" * N_FRAMES), ("three", "1,2,3\n" * N_FRAMES),
                       ("nan", "nan,nan,nan,nan\n" * N_FRAMES), ("short", "\n".join(gt_lines[:5]) + "\n"),
                       ("long", "\n".join(gt_lines + gt_lines[:2]) + "\n"), ("empty", "")):
        (d / "res" / name).mkdir(parents=True)
        (d / "res" / name / "Demo.txt").write_text(text)
    (d / "res" / "binary").mkdir()
    (d / "res" / "binary" / "Demo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (d / "res" / "folder_as_file" / "Demo.txt").mkdir(parents=True)
    return d


def tadt(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tadt_plugin.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=dict(os.environ, TADT_OFFLINE="1"))


# (id, argv with {d} for the fixture folder, text the one error line must contain)
CASES = [
    ("track-text-as-video", ["track", "{d}/notvideo.mp4", "--out", "{d}/o.txt", "--init", "10,10,5,5"], "notvideo.mp4"),
    ("track-out-is-folder", ["track", "{d}/seqs/Demo", "--out", "{d}/outdir"], "outdir"),
    ("track-missing-source", ["track", "{d}/nothing_here", "--out", "{d}/o.txt"], "nothing_here"),
    ("track-symlink-loop", ["track", "{d}/loop", "--out", "{d}/o.txt", "--init", "1,1,5,5"], "loop"),
    ("track-zero-byte-image", ["track", "{d}/zero_img", "--out", "{d}/o.txt", "--init", "1,1,5,5", "--quiet"],
     "0001.jpg"),
    ("track-empty-ground-truth", ["track", "{d}/gtcases/empty_gt", "--out", "{d}/o.txt"], "groundtruth_rect.txt"),
    ("track-garbage-ground-truth", ["track", "{d}/gtcases/garbage_gt", "--out", "{d}/o.txt"], "line 2"),
    ("track-binary-ground-truth", ["track", "{d}/gtcases/binary_gt", "--out", "{d}/o.txt"], "groundtruth_rect.txt"),
    ("run-root-is-file", ["run", "{d}/afile.txt", "--out", "{d}/runout"], "afile.txt"),
    ("run-out-is-file", ["run", "{d}/seqs", "--out", "{d}/afile.txt"], "afile.txt"),
    ("run-garbage-ground-truth", ["run", "{d}/bad_root", "--out", "{d}/runout"], "groundtruth_rect.txt"),
    ("eval-garbage-lines", ["eval", "{d}/seqs", "--results", "{d}/res/garbage"], "garbage/Demo.txt, line 1"),
    ("eval-three-numbers", ["eval", "{d}/seqs", "--results", "{d}/res/three"], "three/Demo.txt, line 1"),
    ("eval-nan-boxes", ["eval", "{d}/seqs", "--results", "{d}/res/nan"], "nan/Demo.txt, line 1"),
    ("eval-short-file", ["eval", "{d}/seqs", "--results", "{d}/res/short"], "5 boxes for 8"),
    ("eval-long-file", ["eval", "{d}/seqs", "--results", "{d}/res/long"], "10 boxes for 8"),
    ("eval-empty-file", ["eval", "{d}/seqs", "--results", "{d}/res/empty"], "0 boxes for 8"),
    ("eval-binary-file", ["eval", "{d}/seqs", "--results", "{d}/res/binary"], "binary/Demo.txt"),
    ("eval-results-is-file", ["eval", "{d}/seqs", "--results", "{d}/afile.txt"], "afile.txt"),
    ("eval-result-is-folder", ["eval", "{d}/seqs", "--results", "{d}/res/folder_as_file"], "folder_as_file"),
    ("eval-compare-bad-spec", ["eval", "{d}/seqs", "--results", "{d}/res/short", "--allow-short",
                               "--compare", "nodir"], "nodir"),
    ("eval-compare-garbage", ["eval", "{d}/seqs", "--results", "{d}/res/short", "--allow-short",
                              "--compare", "g={d}/res/garbage"], "garbage/Demo.txt"),
    ("weights-folder", ["weights", "--weights", "{d}/outdir"], "outdir"),
    ("weights-text-file", ["weights", "--weights", "{d}/afile.txt"], "afile.txt"),
    ("bench-missing-sequence", ["bench", "--sequences", "{d}/nothing_here", "--frames", "3"], "nothing_here"),
    ("pytracking-not-a-checkout", ["pytracking", "install", "{d}/outdir"], "outdir"),
    ("vot-missing-sequence", ["vot", "workspace", "{d}/ws1", "--sequence", "{d}/nothing_here"], "nothing_here"),
    ("vot-garbage-ground-truth", ["vot", "workspace", "{d}/ws2", "--sequence", "{d}/gtcases/garbage_gt"],
     "groundtruth_rect.txt"),
    ("vot-summary-not-a-workspace", ["vot", "summary", "{d}/outdir"], "outdir"),
]


INFO_PREFIXES = ("tadt: dtype auto -> ",)   # the one informational line a tracker start prints


def error_lines(stderr: str):
    """stderr without progress-bar redraws, warnings and the precision announcement, as a list of lines."""
    lines = [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    return [ln for ln in lines if "frame/s" not in ln and "Warning" not in ln and not ln.startswith("  warnings.warn")
            and not ln.startswith(INFO_PREFIXES)]


@pytest.mark.parametrize("argv,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_error_exit_2(bad, argv, expect):
    r = tadt(*[a.format(d=bad) for a in argv])
    lines = error_lines(r.stderr)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and "error:" in lines[0], lines
    assert expect in lines[0], lines
    assert not (bad / "o.txt").exists()   # nothing half-written (or written at all) for a failed track


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions (CI runs as root)")
def test_unreadable_results_file_is_one_line_error(bad, tmp_path):
    d = tmp_path / "res"
    d.mkdir()
    f = d / "Demo.txt"
    f.write_text((bad / "seqs" / "Demo" / "groundtruth_rect.txt").read_text())
    f.chmod(0)
    r = tadt("eval", bad / "seqs", "--results", d)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Demo.txt" in r.stderr, r.stderr


def test_allow_short_scores_a_truncated_file_and_says_so(bad):
    r = tadt("eval", bad / "seqs", "--results", bad / "res" / "short", "--allow-short", "--plot", bad / "p.png")
    assert r.returncode == 0, r.stderr
    assert "tadt/Demo 5 of 8 rows" in r.stdout
    mean = [ln for ln in r.stdout.splitlines() if ln.startswith("mean")][0]
    auc = float(mean.split("|")[1].split()[0])
    # rows 2..5 are the ground truth (IoU 1: a success at 20 or, by rounding, all 21 thresholds), rows 6..8
    # are missing and count as failures: 4/7 of a perfect score
    assert 4 / 7 * 20 / 21 - 1e-3 <= auc <= 4 / 7 + 1e-3


def test_vot_status_lines_are_legal_in_results(bad, tmp_path):
    """VOT text results mark initialisation (1), failure (2) and skipped frames (0) on a line of their
    own: they are read as misses, not as errors."""
    gt = (bad / "seqs" / "Demo" / "groundtruth_rect.txt").read_text().splitlines()
    (tmp_path / "Demo.txt").write_text("\n".join(["1"] + gt[1:4] + ["2", "0", "0"] + gt[7:]) + "\n")
    r = tadt("eval", bad / "seqs", "--results", tmp_path, "--plot", tmp_path / "p.png")
    assert r.returncode == 0, r.stderr
    mean = [ln for ln in r.stdout.splitlines() if ln.startswith("mean")][0]
    assert 4 / 7 * 20 / 21 - 1e-3 <= float(mean.split("|")[1].split()[0]) <= 4 / 7 + 1e-3   # 3 of 7 missed


@pytest.mark.skipif(not (PT_ROOT / "pytracking" / "evaluation").is_dir(),
                    reason=f"needs a pytracking checkout at {PT_ROOT} ($PYTRACKING_ROOT); pytracking is not on PyPI")
def test_pytracking_import_rejects_garbage_results(bad, tmp_path):
    """`tadt pytracking compare --import-results` reads result files with the same checks as `tadt eval`."""
    root = tmp_path / "pt"
    subprocess.run(["git", "clone", "-q", str(PT_ROOT), str(root)], check=True)
    r = tadt("pytracking", "install", root, "--local-py", "--results-path", tmp_path / "results",
             "--result-plot-path", tmp_path / "plots")
    assert r.returncode == 0, r.stderr[-2000:]
    r = tadt("pytracking", "compare", "--pytracking", root, "--dataset_name", "folder", "--folder", bad / "seqs",
             "--import-results", f"junk={bad / 'res' / 'garbage'}", "--no-plots")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(error_lines(r.stderr)) == 1 and "garbage/Demo.txt, line 1" in r.stderr, r.stderr
    assert not list((tmp_path / "results").glob("junk/*/*.txt"))   # nothing imported
