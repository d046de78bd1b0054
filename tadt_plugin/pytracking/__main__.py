"""`python -m tadt_plugin.pytracking run|compare|install|uninstall|status|make-got10k ...` (same as `tadt pytracking`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
