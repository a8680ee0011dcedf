"""The end of `iterdeploy run`: it reports DVC's stages to Dagster through a child process, only where Dagster is
installed, and a failure of the reporter is a one-line warning, never an error of the run; the reporter's own
errors are one line with exit status 2."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iterdeploy.commands import run as run_cmd

REPO = Path(__file__).resolve().parents[1]


def test_no_dagster_no_report(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dagster" else real(name, *a))
    calls = []
    monkeypatch.setattr(run_cmd.subprocess, "run", lambda *a, **k: calls.append(a))
    run_cmd._report_to_dagster(tmp_path, "params.yaml")
    assert calls == [] and capsys.readouterr().out == ""


def test_failing_reporter_is_a_warning(monkeypatch, tmp_path, capsys):
    if importlib.util.find_spec("dagster") is None:
        pytest.skip("dagster is not installed")
    seen = {}

    def fake_run(cmd, **kw):
        seen["cmd"], seen["env"] = cmd, kw["env"]
        return subprocess.CompletedProcess(cmd, 2, "", "some noise\nreport_dvc: x/dagster.yaml: broken\n")

    monkeypatch.setattr(run_cmd.subprocess, "run", fake_run)
    run_cmd._report_to_dagster(tmp_path, "params.yaml")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["[iterdeploy run] warning: could not report the stages to Dagster: "
                   "report_dvc: x/dagster.yaml: broken"]
    assert seen["cmd"][1:4] == ["-m", "dagster_project.report_dvc", "--root"]
    assert str(REPO) in seen["env"]["PYTHONPATH"].split(os.pathsep)  # dagster_project/ is beside the package


def test_reporter_errors_are_one_line(tmp_path):
    if importlib.util.find_spec("dagster") is None:
        pytest.skip("dagster is not installed")
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(tmp_path), DAGSTER_HOME=str(tmp_path / "missing"))
    (tmp_path / "params.yaml").write_text("generations: [\n")
    for args, cause in ((["--root", str(tmp_path / "nowhere")], "params.yaml: not found"),
                        (["--root", str(tmp_path)], "not valid YAML")):
        proc = subprocess.run([sys.executable, "-m", "dagster_project.report_dvc", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and cause in proc.stderr, proc.stderr
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    proc = subprocess.run([sys.executable, "-m", "dagster_project.report_dvc", "--root", str(tmp_path)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"report_dvc: {tmp_path / 'missing'}: DAGSTER_HOME is not a folder"
    assert not (tmp_path / ".dagster").exists()
