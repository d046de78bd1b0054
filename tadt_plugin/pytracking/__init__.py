"""The pytracking adapter (docs/pytracking.md): TADT as a pytracking tracker, the shim installer, the
local datasets ``folder`` / ``otb_local``, atomic result files and the side-by-side comparison.

Importing this package imports nothing from pytracking; only ``tracker``, ``params`` (lazily),
``datasets``, ``atomic``, ``run`` and ``compare`` do, and they need the checkout on ``sys.path``
(``run_tracker.py`` does that; our entry points take ``--pytracking PATH`` / ``$PYTRACKING_ROOT``).
"""
