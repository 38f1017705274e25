"""The normalisation applied to answers before they are compared.

Everything the fuzzer forgives is here, and only this:

* order where the database kind has no defined order: records of hash
  databases (KT ``*``, TT ``*``/``.tch``/``.tct``) come back sorted (match_*,
  get_bulk, iteration walks, fwmkeys, misc regex/getlist, unordered table
  searches); a table database's natural order is its hash order, so in an
  ordered search records that tie on the order column (or lack it) are
  compared as a set, and with a limit only the sequence of sort keys is
  compared (``tyrant.tie_normal``);
* expiration times: an absolute time within a day of now is rounded to the
  minute relative to now ("now+3600"), so a relative ``xt`` set a moment
  apart on each server compares equal;
* sizes and memory figures (KT ``size``, ``db_total_size``, ``sys_*``; TT
  ``size`` command, stat ``size``/``mem*``/``ru_*``) and clocks, process ids
  and build strings (``serv_current_time``, ``serv_proc_id``,
  ``serv_running_term``, ``conf_kc_*``, ``conf_kt_features``; TT ``time``,
  ``pid``, ``loadavg``, ``version``?) are dropped; storage tuning figures of
  KT ``status`` (bnum, psiz, ...) are dropped, only count/path/type/realtype
  and the TimedDB options are compared;
* error texts: an RPC answer's ``ERROR`` value is dropped (its presence and
  the status code are compared); TT misc ``error`` compares its status and
  "fatal" flag only (ttserver keeps the last error code per worker thread,
  so the code it reports depends on which thread serves the request).

What the generator avoids (answers of the real servers that cannot be
reproduced): inputs that crash ttserver 1.1.41 (an empty primary key or an
empty value in an indexed column of a table database, a q-gram index on the
primary key), ``putshl`` on a table database (ttserver keeps the shifted
bytes as a column with an empty name and orders such records in searches
inconsistently), a TT ``copy`` that
fails to write (ttserver's database then stays in a thread-dependent
"fatal" state), KT expiration times of 0 (expired or not depending on the
second the request arrives), and on hash databases records that are already
expired (which of them ktserver's expiration cursor purges depends on the
hash order).
"""

from __future__ import annotations

import time
from typing import Dict, List, Tuple

DAY = 86400


def xt(value: int) -> object:
    """An absolute expiration time, relative to now if it is near."""
    d = value - int(time.time())
    if -DAY < d < DAY:
        return "now%+d" % (int(round(d / 60.0)) * 60)
    return value


KT_REPORT_DROP = ("sys_", "conf_kc_", "serv_current_time", "serv_proc_id", "serv_running_term",
                  "serv_task_count",
                  "conf_kt_features", "db_total_size")
KT_STATUS_KEEP = {b"count", b"path", b"type", b"realtype", b"ktopts", b"ktcapcnt", b"ktcapsiz",
                  b"rcomp"}

TT_STAT_DROP = {"time", "pid", "loadavg", "size", "memsize", "memrss", "ru_real", "ru_user",
                "ru_sys", "version", "libver", "protver", "os", "fd", "sid"}


def kt_report(pairs: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
    out = []
    for k, v in pairs:
        name = k.decode("latin-1")
        if name.startswith(KT_REPORT_DROP):
            continue
        if name.startswith("db_") and b" size=" in v:
            v = b" ".join(p for p in v.split(b" ") if not p.startswith(b"size="))
        out.append((k, v))
    return sorted(out)


def kt_status(pairs: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
    return sorted((k, v) for k, v in pairs if k in KT_STATUS_KEEP)


def tt_stat(stats: Dict[str, str]) -> List[Tuple[str, str]]:
    out = []
    for k, v in stats.items():
        if k in TT_STAT_DROP:
            v = "*"
        out.append((k, v))
    return sorted(out)
