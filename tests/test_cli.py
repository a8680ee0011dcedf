"""`iterdeploy` exit statuses: 1 is only ever a verdict, a bug exits 3 with one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import iterdeploy.commands.validate as command
from conftest import IPC_ROOT
from iterdeploy.cli import main
from iterdeploy.errors import PDDLError

FERRY = IPC_ROOT / "ferry"
ARGS = ["validate", str(FERRY / "domain.pddl"), str(FERRY / "training" / "easy" / "p01.pddl")]


def _raising(exc: BaseException):
    def run(args):
        raise exc
    return run


def test_a_bug_exits_3_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("ITERDEPLOY_DEBUG", raising=False)
    monkeypatch.setattr(command, "run", _raising(ZeroDivisionError("division by zero\nsecond line")))
    assert main(ARGS + [str(tmp_path / "x.plan")]) == 3
    captured = capsys.readouterr()
    assert captured.err == ("iterdeploy validate: internal error: ZeroDivisionError: division by zero second line "
                            "(a bug; set ITERDEPLOY_DEBUG=1 for the traceback)\n")
    assert captured.out == ""


def test_debug_adds_the_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ITERDEPLOY_DEBUG", "1")
    monkeypatch.setattr(command, "run", _raising(KeyError("k")))
    assert main(ARGS + [str(tmp_path / "x.plan")]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith("for the traceback)\n")


@pytest.mark.parametrize("exc, status, words", [
    (PDDLError("bad", "d.pddl", 3), 2, "iterdeploy validate: error: d.pddl:3: bad\n"),
    (KeyboardInterrupt(), 130, "iterdeploy validate: interrupted\n"),
    (BrokenPipeError(), 141, ""),
    (MemoryError(), 3, "internal error: MemoryError"),
    (RecursionError("maximum recursion depth exceeded"), 3, "internal error: RecursionError"),
])
def test_exit_statuses(monkeypatch, capsys, exc, status, words):
    monkeypatch.setattr(command, "run", _raising(exc))
    assert main(ARGS + ["x.plan"]) == status
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == (1 if words else 0)


def test_help_documents_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for line in ("0    success", "1    the answer is no", "2    bad input", "3    internal error", "130  interrupted"):
        assert line in out


def test_closed_output_is_not_a_crash(tmp_path):
    """`iterdeploy validate ... | head -1`: the pipe closes under a long output; exit 141, nothing on stderr."""
    plan = tmp_path / "good.plan"
    plan.write_text("(board car1 loc1)\n(sail loc1 loc2)\n(debark car1 loc2)\n")
    proc = subprocess.Popen([sys.executable, "-m", "iterdeploy", "validate", "--json", *ARGS[1:], *[str(plan)] * 3000],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b'{"plan"')
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""
