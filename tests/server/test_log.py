"""kt.server.log: the line format, levels, and a line logged from inside
another (a signal handler that logs runs wherever the thread was)."""

from __future__ import annotations

import io
import re
import threading
from typing import List

from kt.server.log import Logger

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z: \[(\w+)\]: (.*)$")


def test_lines_and_levels() -> None:
    out = io.StringIO()
    log = Logger(stream=out, level="SYSTEM")
    log.info("not written")
    log.system("started")
    log.error("failed")
    lines = out.getvalue().splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert [(m.group(1), m.group(2)) for m in parsed if m] == [
        ("SYSTEM", "started"), ("ERROR", "failed")]
    assert len(parsed) == 2
    assert not log.enabled("INFO") and log.enabled("ERROR")
    quiet = Logger(stream=out, level="NONE")
    assert not quiet.enabled("ERROR")


class _Reentering(io.StringIO):
    """A stream whose first write logs another line through the same
    logger, as a signal handler running inside ``write`` would."""

    def __init__(self) -> None:
        super().__init__()
        self.logger: Logger
        self.nested = False

    def write(self, s: str) -> int:
        if not self.nested:
            self.nested = True
            self.logger.system("caught the signal 15: shutting down")
        return super().write(s)


def test_a_line_logged_while_another_is_written_does_not_deadlock() -> None:
    out = _Reentering()
    log = Logger(stream=out, level="INFO")
    out.logger = log
    done: List[bool] = []

    def run() -> None:
        log.info("(127.0.0.1:1): bin_get_bulk: 1")
        done.append(True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert done == [True], "the nested log call deadlocked"
    messages = [m.group(2) for m in map(LINE.match, out.getvalue().splitlines()) if m]
    assert messages == ["caught the signal 15: shutting down", "(127.0.0.1:1): bin_get_bulk: 1"]
