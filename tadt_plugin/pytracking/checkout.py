"""Finding a pytracking checkout and making it importable.  Imports nothing from pytracking.

pytracking is not pip-installable: its code is imported as the top-level packages ``pytracking`` and
``ltr`` from the root of a git checkout.  ``run_tracker.py`` puts that root on ``sys.path`` itself; our
own entry points (``tadt pytracking run|compare``) find it from, in order: ``--pytracking PATH``, the
``PYTRACKING_ROOT`` environment variable, the current directory or one of its parents.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path
from typing import List, Optional

from ..errors import TadtError

ENV_VAR = "PYTRACKING_ROOT"

# pip packages that pytracking imports at module level on the paths we use (INTEGRATION.md 1.8).
# module name -> how to install it
REQUIRED_MODULES = {
    "jpeg4py": "pip install jpeg4py",
    "pandas": "pip install pandas",
    "visdom": "echo 'setuptools<81' > /tmp/c.txt && PIP_CONSTRAINT=/tmp/c.txt pip install visdom",
    "tqdm": "pip install tqdm",
    "matplotlib": "pip install matplotlib",
    "PIL": "pip install pillow",
}


def is_checkout(path: Path) -> bool:
    return (path / "pytracking" / "evaluation").is_dir() and (path / "pytracking" / "tracker").is_dir()


def normalize(path) -> Path:
    """The checkout root for `path`: the root itself or its inner ``pytracking/`` folder."""
    p = Path(path).expanduser().resolve()
    if is_checkout(p):
        return p
    if p.name == "pytracking" and is_checkout(p.parent):
        return p.parent
    raise TadtError(f"{path} is not a pytracking checkout (expected {p}/pytracking/evaluation and "
                    f"{p}/pytracking/tracker); clone https://github.com/visionml/pytracking first")


def find_checkout(explicit: Optional[str] = None) -> Path:
    if explicit:
        return normalize(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return normalize(env)
    cwd = Path.cwd().resolve()
    for p in (cwd, *cwd.parents):
        if is_checkout(p):
            return p
    raise TadtError(f"no pytracking checkout: pass --pytracking PATH, set {ENV_VAR}=PATH, "
                    f"or run from inside the checkout")


def missing_modules() -> List[str]:
    """The pip packages pytracking needs that cannot be found (checked without importing them)."""
    import importlib.util
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def activate(root: Path) -> Path:
    """Put the checkout root on sys.path (first) so ``pytracking`` and ``ltr`` import from it."""
    root = normalize(root)
    loaded = sys.modules.get("pytracking")
    if loaded is not None and getattr(loaded, "__file__", None):
        have = Path(loaded.__file__).resolve().parent.parent
        if have != root:
            raise TadtError(f"pytracking is already imported from {have}, not from {root}")
    s = str(root)
    if s in sys.path:
        sys.path.remove(s)
    sys.path.insert(0, s)
    missing = missing_modules()
    if missing:
        hints = "\n  ".join(REQUIRED_MODULES[m] for m in missing)
        raise TadtError(f"pytracking needs the pip package(s) {', '.join(missing)}; install with\n  {hints}")
    return root


def stub_tikzplotlib() -> None:
    """pytracking's plot_results imports tikzplotlib at module level and never uses it; the last release
    (0.10.1) fails to import with matplotlib >= 3.8 ('common_texification').  Put an empty module in its
    place when the real one is missing or broken; pytracking's code is left untouched."""
    if "tikzplotlib" in sys.modules:
        return
    try:
        importlib.import_module("tikzplotlib")
    except Exception:
        stub = types.ModuleType("tikzplotlib")
        stub.__doc__ = "stand-in installed by tadt_plugin: the real tikzplotlib is missing or broken"

        def save(*args, **kwargs):
            raise RuntimeError("tikzplotlib is not available (stand-in module from tadt_plugin)")
        stub.save = save
        sys.modules["tikzplotlib"] = stub
