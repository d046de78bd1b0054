"""Register TADT in a user's pytracking checkout: `tadt pytracking install|uninstall|status PATH`.

pytracking finds a tracker only as a folder ``pytracking/tracker/<name>/`` of the checkout it runs from,
and parameter sets only as modules ``pytracking/parameter/<name>/<set>.py`` (INTEGRATION.md 1.1-1.2, 2).
``install`` writes small shim modules there that import from the *installed* ``tadt_plugin`` package
(never a file path, so editable and ``pip install .`` installs both work):

    pytracking/tracker/tadt/__init__.py        from tadt_plugin.pytracking.tracker import get_tracker_class
    pytracking/parameter/tadt/__init__.py      (a comment)
    pytracking/parameter/tadt/<set>.py         from tadt_plugin.parameter.<set> import parameters

Each of the two folders gets a marker file, ``.tadt-plugin-shim.json``, listing the files written and
their SHA-256, so that:

* ``install`` refuses a folder it did not write (no marker, not empty), is idempotent (unchanged files
  are not rewritten), refreshes the parameter shims when the package gains or loses sets, and never
  overwrites a file the user edited (``--force`` does);
* ``uninstall`` deletes only those files (and their ``__pycache__`` entries), and the folders when they
  end up empty; files the user added or edited are left, with a note.

The two folders are listed in the checkout's ``.git/info/exclude`` between marker comments (removed
again by ``uninstall``), so ``git status`` stays clean.  pytracking's ``local.py`` (its paths file, git
ignored) is checked and, on request, created or completed (``--local-py``, ``--otb-path`` ...,
``--interactive``); ``uninstall`` never touches it.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .. import __version__
from ..atomicfile import atomic_write
from ..errors import TadtError
from .checkout import normalize

TRACKER_NAME = "tadt"
MARKER = ".tadt-plugin-shim.json"
EXCLUDE_BEGIN = "# >>> tadt-plugin shims (written by `tadt pytracking install`; removed by uninstall)"
EXCLUDE_END = "# <<< tadt-plugin shims"
HEADER = ("# Written by `tadt pytracking install` (tadt-plugin {version}); `tadt pytracking uninstall` removes it.\n"
          "# The code lives in the installed tadt_plugin package; this file only points pytracking at it.\n")

# local.py fields the plugin reads, with what they are for
LOCAL_FIELDS = {
    "results_path": "where pytracking writes results (default <checkout>/pytracking/tracking_results/)",
    "result_plot_path": "where the analysis writes tables and plots (default <checkout>/pytracking/result_plots/)",
    "network_path": "pytracking's networks folder; TADT also looks for its VGG16 weights file there",
    "otb_path": "OTB-100 root: needed for --dataset_name otb / otb_local",
    "got10k_path": "GOT-10k root: needed for --dataset_name got10k_val (the no-code route)",
    "tadt_folder_path": "default folder for --dataset_name folder (a tadt-plugin addition)",
}
DATASET_FIELDS = ("otb_path", "got10k_path", "tadt_folder_path")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------
def parameter_sets() -> Dict[str, str]:
    """name -> one-line description, for every set in tadt_plugin.parameter."""
    from .. import parameter
    out = {}
    for name in parameter.available():
        spec = importlib.util.find_spec(f"{parameter.__name__}.{name}")
        doc = ""
        try:
            tree = ast.parse(Path(spec.origin).read_text())
            doc = (ast.get_docstring(tree) or "").strip().splitlines()[0] if ast.get_docstring(tree) else ""
        except Exception:
            pass
        out[name] = doc
    return out


def shim_files() -> Dict[str, Dict[str, str]]:
    """folder (relative to the checkout) -> {file name: content}."""
    head = HEADER.format(version=__version__)
    tracker = {"__init__.py": head + "from tadt_plugin.pytracking.tracker import get_tracker_class  # noqa: F401\n"}
    param = {"__init__.py": head + "# TADT parameter sets: one module per set, each exposing parameters().\n"}
    for name, doc in parameter_sets().items():
        note = f"# {doc}\n" if doc else ""
        param[f"{name}.py"] = head + note + f"from tadt_plugin.parameter.{name} import parameters  # noqa: F401\n"
    return {f"pytracking/tracker/{TRACKER_NAME}": tracker, f"pytracking/parameter/{TRACKER_NAME}": param}


@dataclass
class Report:
    lines: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    def say(self, msg: str) -> None:
        self.lines.append(msg)

    def problem(self, msg: str) -> None:
        self.problems.append(msg)


def _read_marker(folder: Path) -> Optional[dict]:
    m = folder / MARKER
    if not m.is_file():
        return None
    try:
        data = json.loads(m.read_text())
        if isinstance(data, dict) and isinstance(data.get("files"), dict):
            return data
    except ValueError:
        pass
    return {"files": {}}


def _foreign(folder: Path) -> bool:
    """The folder exists, has no marker, and holds something besides __pycache__."""
    if not folder.exists():
        return False
    if not folder.is_dir():
        return True
    if (folder / MARKER).is_file():
        return False
    return any(p.name != "__pycache__" for p in folder.iterdir())


def _remove_pycache(folder: Path, stem: str) -> None:
    cache = folder / "__pycache__"
    if cache.is_dir():
        for p in cache.glob(f"{stem}.*.pyc"):
            p.unlink()
        try:
            cache.rmdir()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------------
def install(root, force: bool = False, report: Optional[Report] = None) -> Report:
    root = normalize(root)
    rep = report or Report()
    wanted = shim_files()
    foreign = [rel for rel in wanted if _foreign(root / rel)]
    if foreign:
        raise TadtError("refusing to install: " + ", ".join(str(root / r) for r in foreign) +
                        " already exist(s) and were not written by tadt-plugin (no " + MARKER + "); "
                        "move them away first")
    changed = 0
    for rel, files in wanted.items():
        folder = root / rel
        marker = _read_marker(folder) or {"files": {}}
        recorded: Dict[str, str] = dict(marker["files"])
        new_record: Dict[str, str] = {}
        for name, text in files.items():
            path = folder / name
            if path.is_file():
                have = _file_sha(path)
                if have == _sha(text):
                    new_record[name] = have
                    continue
                ours_unedited = recorded.get(name) == have
                if not ours_unedited and not force:
                    why = "was edited since tadt-plugin wrote it" if name in recorded else "was not written by tadt-plugin"
                    rep.problem(f"{path} {why}; left as is (use --force to replace it)")
                    if name in recorded:
                        new_record[name] = recorded[name]
                    continue
            atomic_write(path, text)
            new_record[name] = _sha(text)
            changed += 1
            rep.say(f"wrote {path}")
        for name, sha in recorded.items():  # sets that no longer exist in the package
            if name in files:
                continue
            path = folder / name
            if path.is_file() and (_file_sha(path) == sha or force):
                path.unlink()
                _remove_pycache(folder, Path(name).stem)
                changed += 1
                rep.say(f"removed stale {path}")
            elif path.is_file():
                rep.problem(f"{path} was edited since tadt-plugin wrote it; left as is")
        if new_record != recorded or not (folder / MARKER).is_file():
            atomic_write(folder / MARKER, json.dumps({"written_by": "tadt-plugin", "version": __version__,
                                                       "files": new_record}, indent=1, sort_keys=True) + "\n")
    if not changed:
        rep.say(f"shims in {root} are up to date (tracker '{TRACKER_NAME}', parameter sets: "
                f"{', '.join(sorted(n[:-3] for n in wanted[f'pytracking/parameter/{TRACKER_NAME}'] if n != '__init__.py'))})")
    else:
        sets = sorted(n[:-3] for n in wanted[f"pytracking/parameter/{TRACKER_NAME}"] if n != "__init__.py")
        rep.say(f"tracker '{TRACKER_NAME}' registered; parameter sets: {', '.join(sets)}")
    ex = git_exclude(root, add=True)
    if ex:
        rep.say(ex)
    return rep


def uninstall(root, force: bool = False, report: Optional[Report] = None) -> Report:
    root = normalize(root)
    rep = report or Report()
    for rel in (f"pytracking/tracker/{TRACKER_NAME}", f"pytracking/parameter/{TRACKER_NAME}"):
        folder = root / rel
        if not folder.exists():
            rep.say(f"{folder}: not installed")
            continue
        marker = _read_marker(folder)
        if marker is None:
            if _foreign(folder):
                rep.problem(f"{folder} was not written by tadt-plugin (no {MARKER}); left alone")
                continue
            marker = {"files": {}}
        kept = {}
        for name, sha in marker["files"].items():
            path = folder / name
            if not path.is_file():
                continue
            if _file_sha(path) != sha and not force:
                rep.problem(f"{path} was edited since tadt-plugin wrote it; left as is (--force removes it)")
                kept[name] = sha
                continue
            path.unlink()
            _remove_pycache(folder, Path(name).stem)
        if kept:  # keep claiming the edited files, so a later install/uninstall still knows them
            atomic_write(folder / MARKER, json.dumps(dict(marker, files=kept), indent=1, sort_keys=True) + "\n")
        else:
            (folder / MARKER).unlink(missing_ok=True)
        try:
            folder.rmdir()
            rep.say(f"removed {folder}")
        except OSError:
            left = sorted(p.name for p in folder.iterdir())
            rep.problem(f"{folder} kept: it holds files tadt-plugin did not write: {', '.join(left)}")
    ex = git_exclude(root, add=False)
    if ex:
        rep.say(ex)
    return rep


# ---------------------------------------------------------------------------------------------------
def _git(root: Path, *args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def exclude_file(root: Path) -> Tuple[Optional[Path], Optional[Path]]:
    """(.git/info/exclude, repository top level) for the checkout, or (None, None) when not a git repo."""
    top = _git(root, "rev-parse", "--show-toplevel")
    path = _git(root, "rev-parse", "--git-path", "info/exclude")
    if top is None or path is None:
        git_dir = root / ".git"
        if git_dir.is_dir():
            return git_dir / "info" / "exclude", root
        return None, None
    p = Path(path)
    return (p if p.is_absolute() else root / p), Path(top)


def _strip_block(text: str) -> str:
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if bare == EXCLUDE_BEGIN:
            inside = True
        elif inside and bare == EXCLUDE_END:
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


def git_exclude(root: Path, add: bool) -> str:
    path, top = exclude_file(root)
    if path is None:
        return "" if not add else f"{root} is not a git repository: nothing added to .git/info/exclude"
    text = path.read_text() if path.is_file() else ""
    base = _strip_block(text)
    if add:
        rel = os.path.relpath(root, top)
        prefix = "" if rel == "." else "/" + rel.replace(os.sep, "/")
        block = "\n".join([EXCLUDE_BEGIN, f"{prefix}/pytracking/tracker/{TRACKER_NAME}/",
                           f"{prefix}/pytracking/parameter/{TRACKER_NAME}/", EXCLUDE_END]) + "\n"
        new = base + ("\n" if base and not base.endswith("\n") else "") + block
    else:
        new = base
    if new == text:
        return ""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, new)
    return f"{'added the shims to' if add else 'removed the shims from'} {path}"


# ---------------------------------------------------------------------------------------------------
def local_py(root: Path) -> Path:
    return normalize(root) / "pytracking" / "evaluation" / "local.py"


def _env_defaults(root: Path) -> Dict[str, str]:
    """pytracking's EnvSettings() defaults, read by loading environment.py alone (no pytracking import)."""
    env_file = root / "pytracking" / "evaluation" / "environment.py"
    try:
        spec = importlib.util.spec_from_file_location("_tadt_pytracking_environment", env_file)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        s = mod.EnvSettings()
        return {k: v for k, v in vars(s).items() if not k.startswith("_")}
    except Exception:
        base = root / "pytracking"
        return {"results_path": f"{base}/tracking_results/", "segmentation_path": f"{base}/segmentation_results/",
                "network_path": f"{base}/networks/", "result_plot_path": f"{base}/result_plots/",
                "otb_path": "", "got10k_path": ""}


def read_local_fields(path: Path) -> Tuple[Dict[str, object], Optional[int]]:
    """({field: value or '<expression>'}, line number of `return settings`) from local.py's
    local_env_settings(), read with ast (the file is not executed)."""
    tree = ast.parse(path.read_text())
    fields: Dict[str, object] = {}
    ret_line = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "local_env_settings":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign):
                    for t in sub.targets:
                        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                            try:
                                fields[t.attr] = ast.literal_eval(sub.value)
                            except ValueError:
                                fields[t.attr] = "<expression>"
                elif isinstance(sub, ast.Return) and ret_line is None:
                    ret_line = sub.lineno
    return fields, ret_line


def _fmt_value(v: str) -> str:
    return repr(str(v))


def write_local_fields(root: Path, values: Dict[str, str], rep: Report) -> None:
    """Create local.py (pytracking's default layout) or set the given fields in the existing one."""
    path = local_py(root)
    if not path.is_file():
        defaults = _env_defaults(normalize(root))
        defaults.update({k: str(v) for k, v in values.items()})
        lines = ["from pytracking.evaluation.environment import EnvSettings", "", "",
                 "def local_env_settings():", "    settings = EnvSettings()", "",
                 "    # Set your local paths here.  (Written by `tadt pytracking install --local-py`.)", ""]
        for k in sorted(defaults):
            note = f"    # {LOCAL_FIELDS[k]}" if k in LOCAL_FIELDS else ""
            lines.append(f"    settings.{k} = {_fmt_value(defaults[k])}{note}")
        lines += ["", "    return settings", ""]
        atomic_write(path, "\n".join(lines))
        rep.say(f"created {path}" + (f" with {', '.join(f'{k}={v}' for k, v in values.items())}" if values else ""))
        return
    if not values:
        return
    text = path.read_text().splitlines()
    fields, ret_line = read_local_fields(path)
    tree = ast.parse("\n".join(text))
    single_line = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute) \
                and isinstance(node.targets[0].value, ast.Name) and node.lineno == node.end_lineno:
            single_line[node.targets[0].attr] = (node.lineno, node.targets[0].value.id, node.col_offset)
    inserts = []
    for k, v in values.items():
        if k in single_line:
            ln, var, col = single_line[k]
            text[ln - 1] = " " * col + f"{var}.{k} = {_fmt_value(v)}"
            rep.say(f"local.py: {k} = {v!s} (was {fields.get(k)!r})")
        else:
            inserts.append((k, v))
    if inserts:
        if ret_line is None:
            raise TadtError(f"cannot find `return settings` in local_env_settings() of {path}; add these lines "
                            f"yourself:\n" + "\n".join(f"    settings.{k} = {_fmt_value(v)}" for k, v in inserts))
        indent = re.match(r"\s*", text[ret_line - 1]).group(0)
        new = [f"{indent}settings.{k} = {_fmt_value(v)}" for k, v in inserts]
        text[ret_line - 1:ret_line - 1] = new
        for k, v in inserts:
            rep.say(f"local.py: {k} = {v} (added)")
    atomic_write(path, "\n".join(text) + "\n")


def check_local(root: Path, rep: Report) -> List[str]:
    """Report local.py's state; return the plugin-relevant fields that are missing or empty."""
    path = local_py(root)
    if not path.is_file():
        rep.say(f"local.py: {path} does not exist; pytracking will write a default one and stop on its first run "
                f"('YOU HAVE NOT SETUP YOUR local.py'). Create it with --local-py (plus --otb-path DIR etc.)")
        return list(LOCAL_FIELDS)
    try:
        fields, _ = read_local_fields(path)
    except SyntaxError as exc:
        rep.problem(f"local.py: {path} does not parse: {exc}")
        return []
    missing = [k for k in DATASET_FIELDS if not fields.get(k)]
    for k in ("results_path", "result_plot_path", "network_path"):
        if k not in fields:
            missing.append(k)
    set_ = {k: v for k, v in fields.items() if k in LOCAL_FIELDS and v}
    rep.say(f"local.py: {path}")
    for k, v in set_.items():
        rep.say(f"  {k} = {v}")
    for k in missing:
        rep.say(f"  {k}: not set -- {LOCAL_FIELDS[k]}")
    return missing


def prompt_local_fields(root: Path, missing: List[str], given: Dict[str, str]) -> Dict[str, str]:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise TadtError("--interactive needs a terminal; pass the paths as options (--otb-path DIR ...) instead")
    out = dict(given)
    for k in missing:
        if k in out:
            continue
        ans = input(f"{k} ({LOCAL_FIELDS[k]}) [Enter: leave unset]: ").strip()
        if ans:
            out[k] = str(Path(ans).expanduser().resolve())
    return out


def status(root, rep: Optional[Report] = None) -> Report:
    root = normalize(root)
    rep = rep or Report()
    wanted = shim_files()
    for rel, files in wanted.items():
        folder = root / rel
        marker = _read_marker(folder) if folder.is_dir() else None
        if not folder.exists():
            rep.say(f"{folder}: not installed")
        elif marker is None:
            rep.say(f"{folder}: exists, not written by tadt-plugin")
        else:
            stale = [n for n, t in files.items() if not (folder / n).is_file() or _file_sha(folder / n) != _sha(t)]
            rep.say(f"{folder}: installed by tadt-plugin {marker.get('version', '?')}"
                    + (f"; out of date: {', '.join(stale)} (run install again)" if stale else "; up to date"))
    from .checkout import REQUIRED_MODULES, missing_modules
    miss = missing_modules()
    if miss:
        rep.say("pip packages pytracking needs but are missing: " + ", ".join(miss))
        for m in miss:
            rep.say(f"  {REQUIRED_MODULES[m]}")
    check_local(root, rep)
    return rep
