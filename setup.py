"""Build script: pure Python by default; ``KT_USE_MYPYC=1`` compiles the
hot modules with mypyc in a single compilation unit."""

import os

from setuptools import setup

# Modules compiled by mypyc, in one compilation unit: the codecs, the hot
# path of both clients (pool and client classes) and of the built-in Kyoto
# Tycoon server.  They must stay free of dynamic tricks: no monkeypatching
# of their functions (compiled callers keep calling the originals), fully
# typed.  The same test suite runs on the pure and the compiled build.
COMPILED_MODULES = [
    "kt/protocol/buffer.py",
    "kt/protocol/convert.py",
    "kt/protocol/http.py",
    "kt/protocol/kt_binary.py",
    "kt/protocol/kt_http.py",
    "kt/protocol/kt_repl.py",
    "kt/protocol/kt_tsv.py",
    "kt/protocol/tt_binary.py",
    "kt/protocol/tt_table.py",
    # The connection pool: on every request of both clients.
    "kt/connection.py",
    "kt/client.py",
    "kt/kyoto.py",
    "kt/tyrant.py",
    # The built-in Kyoto Tycoon server's hot path: request handling and
    # storage, and the shared pieces they call.
    "kt/server/cnum.py",
    "kt/server/ere.py",
    "kt/server/snapshot.py",
    "kt/server/stats.py",
    "kt/server/kyoto/storage.py",
    "kt/server/kyoto/engine.py",
    # The update log: on every write of a server started with -ulog.
    "kt/server/kyoto/ulog.py",
    # The built-in Tokyo Tyrant server's request handling and storage.
    "kt/server/tyrant/storage.py",
    "kt/server/tyrant/engine.py",
    "kt/server/tyrant/table.py",
    "kt/server/tyrant/tcsearch.py",
    # The event loop, its server base classes and the logger: every
    # request of both built-in servers passes through them.
    "kt/server/log.py",
    "kt/server/net.py",
    "kt/server/loop.py",
]

ext_modules = []
if (os.environ.get("KT_USE_MYPYC", "0") == "1"
        and os.environ.get("_KT_DISCOVERING_REQUIREMENTS") != "1"):
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit(
            "KT_USE_MYPYC=1 needs mypy (mypyc) at build time: build with pip, "
            "which installs it, or pip install mypy==2.4.1 first"
        ) from None

    ext_modules = mypycify(
        COMPILED_MODULES,
        opt_level=os.environ.get("KT_MYPYC_OPT_LEVEL", "3"),
        separate=False,  # one shared library: calls between modules stay native
    )

setup(ext_modules=ext_modules)
