"""Script procedure calls per second: the built-in Kyoto Tycoon server with
a Python procedure (the reference), with the same procedure in Lua, with
kt's Lua helper library (hset), and ktserver running the Lua when it is
installed.  Contenders alternate over rounds on the same machine; the
figures to quote are the ratios to the reference of the same run.

    python bench/lua_procedures.py [--seconds 1.0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Tuple

from kt import EmbeddedServer, KyotoTycoon, ServerStartError, lua_script_path

PYTHON = '''
def incr(ctx, inmap):
    return {"num": ctx.db.increment(inmap[b"key"], 1)}
'''

LUA = '''
function incr(inmap, outmap)
  outmap.num = __kyototycoon__.db:increment(inmap.key, 1)
  return __kyototycoon__.RVSUCCESS
end
'''

Call = Callable[[KyotoTycoon, int], object]


def _incr(client: KyotoTycoon, i: int) -> object:
    return client.script("incr", {"key": "k%d" % (i % 100)}, encode_values=False)


def _hset(client: KyotoTycoon, i: int) -> object:
    return client.script("hset", {"table_key": "h", "key": "f%d" % (i % 100), "value": "v"},
                         encode_values=False)


def rate(client: KyotoTycoon, call: Call, seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            call(client, n)
            n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def contenders(workdir: str) -> List[Tuple[str, str, str, Call]]:
    """(name, server, script path, call)."""
    py = os.path.join(workdir, "incr.py")
    lua = os.path.join(workdir, "incr.lua")
    with open(py, "w") as f:
        f.write(PYTHON)
    with open(lua, "w") as f:
        f.write(LUA + open(lua_script_path("kyoto")).read())
    found = [("built-in, Python incr (reference)", "builtin", py, _incr),
             ("built-in, Lua incr", "builtin", lua, _incr),
             ("built-in, Lua hset (kyoto.lua)", "builtin", lua, _hset)]
    real = os.environ.get("KT_KTSERVER") or shutil.which("ktserver")
    if real:
        found += [("ktserver, Lua incr", real, lua, _incr),
                  ("ktserver, Lua hset (kyoto.lua)", real, lua, _hset)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="kt-bench-lua-")
    servers: Dict[str, EmbeddedServer] = {}
    rates: Dict[str, List[float]] = {}
    runs = []
    for name, server, script, call in contenders(workdir):
        key = server + script
        if key not in servers:
            embedded = EmbeddedServer(server=server, server_args=["-scr", script])
            try:
                embedded.run()
                servers[key] = embedded
            except ServerStartError as exc:
                print("%-34s skipped: %s" % (name, str(exc).strip().splitlines()[-1]))
                continue
        runs.append((name, servers[key].client, call))
        rates[name] = []
    try:
        for _ in range(args.rounds):
            for name, client, call in runs:
                rates[name].append(rate(client, call, args.seconds))
    finally:
        for server in servers.values():
            server.stop()
    reference = statistics.median(rates[runs[0][0]]) if runs else 0.0
    for name, _, _ in runs:
        median = statistics.median(rates[name])
        print("%-34s %8.0f calls/s  %5.2fx the reference" % (name, median, median / reference))


if __name__ == "__main__":
    main()
