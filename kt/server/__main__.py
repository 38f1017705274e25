"""``python -m kt.server kyoto|tyrant ...``: run a built-in server in the foreground."""

from __future__ import annotations

import sys
from typing import List, Optional

USAGE = """usage: python -m kt.server kyoto [-host H] [-port P] [-tout SEC] [-log FILE] [-scr FILE.py] [DB ...]
       python -m kt.server tyrant [-host H] [-port P] [-ext FILE.py] [-log FILE] [DB]
-port 0 picks a free port; the server prints one line with its address once it listens.
"""


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    kind, rest = args[0], args[1:]
    if kind in ("kyoto", "kt", "ktserver"):
        from kt.server.kyoto.cli import main as kyoto_main

        return kyoto_main(rest)
    if kind in ("tyrant", "tt", "ttserver"):
        from kt.server.tyrant.cli import main as tyrant_main

        return tyrant_main(rest)
    sys.stderr.write("unknown server kind %r\n%s" % (kind, USAGE))
    return 2


if __name__ == "__main__":
    sys.exit(main())
