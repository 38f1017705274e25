"""The command-line tool, end to end, against the built-in servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from kt import EmbeddedServer, EmbeddedTokyoTyrantServer


@pytest.fixture(scope="module")
def kt_port() -> Iterator[int]:
    with EmbeddedServer(server="builtin") as server:
        assert server.port is not None
        yield server.port


@pytest.fixture(scope="module")
def tt_port() -> Iterator[int]:
    with EmbeddedTokyoTyrantServer(server="builtin") as server:
        assert server.port is not None
        yield server.port


def cli(*args: str, stdin: str = "") -> Tuple[int, str, str]:
    out = subprocess.run([sys.executable, "-m", "kt", *args], input=stdin, capture_output=True,
                         text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_kyoto_commands(kt_port: int, tmp_path: Path) -> None:
    p = ["-p", str(kt_port)]
    assert cli(*p, "clear")[0] == 0
    assert cli(*p, "set", "greeting", "hello")[0] == 0
    assert cli(*p, "get", "greeting") == (0, "hello\n", "")
    code, out, err = cli(*p, "get", "missing")
    assert code == 1 and "missing" in err
    assert cli(*p, "set", "-x", "100", "temp", "v")[0] == 0
    assert cli(*p, "list") [1].split() == ["greeting", "temp"] or \
        sorted(cli(*p, "list")[1].split()) == ["greeting", "temp"]
    assert cli(*p, "list", "--prefix", "gr", "-v")[1] == "greeting\thello\n"
    dump = tmp_path / "dump.tsv"
    dump.write_text("a\t1\nb\\tkey\tline\\nbreak\nc\\x00\tnul\n", encoding="utf-8")
    code, _, err = cli(*p, "import", str(dump))
    assert code == 0 and "imported: 3" in err
    code, out, _ = cli(*p, "export", "-")
    assert code == 0
    lines = sorted(out.splitlines())
    assert "b\\tkey\tline\\nbreak" in lines and "c\\x00\tnul" in lines and "a\t1" in lines
    assert cli(*p, "remove", "a", "greeting")[0] == 0
    assert cli(*p, "remove", "a")[0] == 1
    code, out, _ = cli(*p, "report")
    assert code == 0 and "db_0" in out
    code, out, err = cli(*p, "bench", "-n", "300")
    assert code == 0 and "ops/s" in out


def test_tyrant_commands(tt_port: int) -> None:
    p = ["--tt", "-p", str(tt_port)]
    assert cli(*p, "set", "k", "v")[0] == 0
    assert cli(*p, "get", "k") == (0, "v\n", "")
    code, out, _ = cli(*p, "status")
    assert code == 0 and "rnum" in out
    assert cli(*p, "set", "-x", "5", "k", "v")[0] == 2  # no expiration in Tokyo Tyrant
    assert cli(*p, "list")[1] == "k\n"
    assert cli(*p, "clear")[0] == 0


def test_exit_codes_for_failures() -> None:
    code, _, err = cli("-p", "1", "get", "k")
    assert code == 3 and "127.0.0.1:1" in err
    assert cli("no-such-command")[0] == 2


def test_serve_runs_a_builtin_server() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kt", "serve", "kyoto", "-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert "listening on" in line
        port = line.split("listening on", 1)[1].split()[0].rsplit(":", 1)[1]
        assert cli("-p", port, "set", "a", "b")[0] == 0
        assert cli("-p", port, "get", "a")[1] == "b\n"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
