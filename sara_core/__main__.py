"""``python -m sara_core``: see sara_core.cli."""

import sys

from sara_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
