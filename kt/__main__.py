"""``python -m kt``: the command-line tool (see kt.cli)."""

import sys

from kt.cli import main

if __name__ == "__main__":
    sys.exit(main())
