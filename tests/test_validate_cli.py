"""`iterdeploy validate`: table, --json, --batch, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iterdeploy.commands.validate as command
from conftest import IPC_ROOT
from iterdeploy.cli import main

FERRY = IPC_ROOT / "ferry"
DOMAIN = FERRY / "domain.pddl"
P01 = FERRY / "training" / "easy" / "p01.pddl"
P02 = FERRY / "training" / "easy" / "p02.pddl"
GOOD = "(board car1 loc1)\n(sail loc1 loc2)\n(debark car1 loc2)\n"
BAD = "(board car1 loc1)\n(sail loc1 loc1)\n"


@pytest.fixture
def plans(tmp_path, ipc_root):
    paths = {}
    for name, text in {"good": GOOD, "bad": BAD, "prose": "Plan:\n1. " + GOOD.replace("\n(", "\n2. (", 1)}.items():
        paths[name] = tmp_path / f"{name}.plan"
        paths[name].write_text(text)
    return paths


def test_table(plans, capsys):
    assert main(["validate", str(DOMAIN), str(P01), str(plans["good"]), str(plans["bad"])]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["plan", "valid", "length", "detail"]
    assert out[1].split()[:3] == [str(plans["good"]), "yes", "3"]
    assert out[2].split()[:3] == [str(plans["bad"]), "no", "2"] and "precondition at step 2" in out[2]
    assert out[-1] == "1/2 valid"


def test_all_valid_exits_0(plans, capsys):
    assert main(["validate", str(DOMAIN), str(P01), str(plans["good"]), str(plans["prose"])]) == 0
    assert main(["validate", "--strict", str(DOMAIN), str(P01), str(plans["prose"])]) == 1
    assert "syntax" in capsys.readouterr().out


def test_json(plans, capsys):
    main(["validate", "--json", str(DOMAIN), str(P01), str(plans["good"]), str(plans["bad"])])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["plan"] for r in rows] == [str(plans["good"]), str(plans["bad"])]
    assert rows[0]["valid"] is True and rows[0]["error"] is None and rows[0]["length"] == 3
    assert rows[1]["valid"] is False and rows[1]["error"] == "precondition"
    assert rows[1]["step"] == 2 and rows[1]["line"] == 2 and rows[1]["length"] == 2
    assert rows[1]["atoms"] == ["(not (at-ferry loc1))"] and rows[1]["message"]


def test_batch_reads_each_task_once(plans, tmp_path, capsys, monkeypatch):
    p02_plan = tmp_path / "p02.plan"
    p02_plan.write_text((FERRY / "plans" / "training" / "easy" / "p02.plan").read_text())
    triples = [(P01, plans["good"]), (P01, plans["bad"]), (P02, p02_plan), (P01, plans["prose"]), (P02, plans["bad"])]
    batch = tmp_path / "pairs.jsonl"
    batch.write_text("".join(json.dumps({"domain": str(DOMAIN), "problem": str(p), "plan": str(x)}) + "\n"
                             for p, x in triples) + "\n")
    loads = []
    real = command.load_task
    monkeypatch.setattr(command, "load_task", lambda *a, **k: loads.append(a[1]) or real(*a, **k))
    assert main(["validate", "--batch", str(batch), "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["valid"] for r in rows] == [True, False, True, True, False]
    assert rows[4]["error"] == "precondition"  # p02 starts with the ferry at loc2
    assert sorted(map(str, loads)) == sorted([str(P01), str(P02)])


def test_task_cache_option(plans, tmp_path, capsys):
    cache = tmp_path / "cache"
    for _ in range(2):
        assert main(["validate", "--task-cache", str(cache), str(DOMAIN), str(P01), str(plans["good"])]) == 0
    assert len(list(cache.glob("*.json"))) == 1


@pytest.mark.parametrize("which", ["domain", "problem", "plan", "batch"])
def test_missing_file_exits_2_with_one_line_naming_it(plans, tmp_path, capsys, which):
    missing = tmp_path / f"no-such-{which}"
    args = {"domain": [str(missing), str(P01), str(plans["good"])],
            "problem": [str(DOMAIN), str(missing), str(plans["good"])],
            "plan": [str(DOMAIN), str(P01), str(missing)],
            "batch": ["--batch", str(missing)]}[which]
    assert main(["validate", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and str(missing) in err and err.startswith("iterdeploy validate: error: ")
    assert captured.out == ""


def test_malformed_batch_line_names_file_and_line(tmp_path, capsys):
    batch = tmp_path / "pairs.jsonl"
    batch.write_text(json.dumps({"domain": "d", "problem": "p", "plan": "x"}) + "\n{\"domain\": \"d\"}\n")
    assert main(["validate", "--batch", str(batch)]) == 2
    assert f"{batch}:2: missing key 'problem'" in capsys.readouterr().err


def test_usage_errors(capsys):
    assert main(["validate", str(DOMAIN), str(P01)]) == 2
    assert "expected DOMAIN PROBLEM PLAN" in capsys.readouterr().err


def test_as_a_subprocess(plans):
    proc = subprocess.run([sys.executable, "-m", "iterdeploy", "validate", "--json", str(DOMAIN), str(P01),
                           str(plans["good"])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["valid"] is True


# --------------------------------------------------------------------------- files that are not plain files

def _run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A subprocess with a timeout: a FIFO that blocks the reader fails the test instead of hanging it."""
    import os

    return subprocess.run([sys.executable, "-m", "iterdeploy", "validate", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("which", ["domain", "problem", "plan", "batch"])
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_only_regular_files_are_read(plans, tmp_path, which, kind):
    import os

    special = tmp_path / "fifo"
    if kind == "fifo":
        os.mkfifo(special)
    else:
        special = "/dev/zero"
    args = {"domain": [str(special), str(P01), str(plans["good"])],
            "problem": [str(DOMAIN), str(special), str(plans["good"])],
            "plan": [str(DOMAIN), str(P01), str(special)],
            "batch": ["--batch", str(special)]}[which]
    proc = _run_cli(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"iterdeploy validate: error: {special}: {which} path is not a regular file " \
                          "(a pipe, device or socket is not read)\n"


def test_file_size_limit_is_a_setting(plans, tmp_path):
    big = tmp_path / "big.plan"
    big.write_text(GOOD + "; padding\n" * 200)
    size = big.stat().st_size
    proc = _run_cli("--max-file-bytes", str(size - 1), str(DOMAIN), str(P01), str(big))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"{big}: plan file is {size:,} bytes, over the limit of {size - 1:,}" in proc.stderr
    assert _run_cli("--max-file-bytes", str(size), str(DOMAIN), str(P01), str(big)).returncode == 0
    # the environment sets the default (here too small even for the domain); the flag overrides it
    proc = _run_cli(str(DOMAIN), str(P01), str(big), env={"ITERDEPLOY_MAX_FILE_BYTES": "100"})
    assert proc.returncode == 2 and f"{DOMAIN}: domain file is" in proc.stderr and "limit of 100 " in proc.stderr
    proc = _run_cli("--max-file-bytes", "100000", str(DOMAIN), str(P01), str(big),
                    env={"ITERDEPLOY_MAX_FILE_BYTES": "100"})
    assert proc.returncode == 0
    proc = _run_cli(str(DOMAIN), str(P01), str(big), env={"ITERDEPLOY_MAX_FILE_BYTES": "64M"})
    assert proc.returncode == 2 and "ITERDEPLOY_MAX_FILE_BYTES must be a positive number of bytes" in proc.stderr
    assert _run_cli("--max-file-bytes", "0", str(DOMAIN), str(P01), str(big)).returncode == 2


def test_unreadable_names_and_directories(plans, tmp_path, capsys):
    assert main(["validate", str(DOMAIN), str(P01), str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"iterdeploy validate: error: {tmp_path}: plan path is a directory, not a file\n"
    assert main(["validate", str(DOMAIN), str(P01), "bad\0name"]) == 2
    assert capsys.readouterr().err == "iterdeploy validate: error: bad\\x00name: cannot read plan file: " \
                                      "invalid file name\n"


# --------------------------------------------------------------------------- malformed batch files

def _batch_error(tmp_path, capsys, content: bytes) -> str:
    batch = tmp_path / "pairs.jsonl"
    batch.write_bytes(content)
    assert main(["validate", "--batch", str(batch)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    prefix = f"iterdeploy validate: error: {batch}:"
    assert captured.err.startswith(prefix)
    return captured.err[len(prefix):].strip()


def test_batch_that_is_not_utf8(tmp_path, capsys, plans):
    good = json.dumps({"domain": str(DOMAIN), "problem": str(P01), "plan": str(plans["good"])}).encode()
    assert _batch_error(tmp_path, capsys, good + b"\n\n" + b'{"domain": "caf\xe9"}\n') == \
        "3: not UTF-8: byte 0xe9 at column 16"


@pytest.mark.parametrize("line, cause", [
    ("{", "not JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("plan.txt", "not JSON (Expecting value at column 1)"),
    ("[1, 2]", "a JSON list, not an object"),
    ('"d.pddl p.pddl x.plan"', "a JSON str, not an object"),
    ("null", "a JSON null, not an object"),
    ("42", "a JSON int, not an object"),
    ('{"domain": "d", "problem": "p"}', "missing key 'plan'"),
    ('{"domain": 1, "problem": "p", "plan": "x"}', "key 'domain' is a JSON int, not a string"),
    ('{"domain": "d", "problem": null, "plan": "x"}', "key 'problem' is a JSON null, not a string"),
    ('{"domain": "d", "problem": "p", "plan": ["x"]}', "key 'plan' is a JSON list, not a string"),
    ('{"domain": "d", "problem": "p", "plan": ""}', "key 'plan' is empty"),
    ('{"domain": "d", "problem": "p", "plan": "\\ud800"}', "key 'plan' is not a valid file name"),
    ('{"domain": "d", "problem": "p", "plan": "x", "plan": "y"}', "not a valid object: key 'plan' occurs twice"),
    ("[" * 100_000 + "]" * 100_000, "not a batch line: JSON nested too deeply"),
    ('{"domain": ' + "1" * 5000 + "}", "not a valid object"),
])
def test_malformed_batch_lines(tmp_path, capsys, line, cause):
    assert _batch_error(tmp_path, capsys, ("\n" + line + "\n").encode()).startswith(f"2: {cause}")


# --------------------------------------------------------------------------- fuzz: batch files and plan files

def _main(argv) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory, ipc_root):
    folder = tmp_path_factory.mktemp("batch")
    (folder / "good.plan").write_text(GOOD)
    return folder


def _batch_lines(folder):
    paths = st.sampled_from([str(DOMAIN), str(P01), str(folder / "good.plan"), str(folder / "missing"), "", "\0"])
    triple = st.fixed_dictionaries({"domain": paths, "problem": paths, "plan": paths})
    valid = st.just(json.dumps({"domain": str(DOMAIN), "problem": str(P01), "plan": str(folder / "good.plan")}))
    return st.one_of(valid, triple.map(json.dumps), _JSON.map(json.dumps), st.text(max_size=30),
                     st.dictionaries(st.sampled_from(["domain", "problem", "plan", "x"]), _JSON).map(json.dumps))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_batch_file_is_verdicts_or_one_error(fuzz_dir, data):
    lines = data.draw(st.lists(_batch_lines(fuzz_dir), max_size=4))
    raw = data.draw(st.binary(max_size=20)) if data.draw(st.booleans()) else b""
    batch = fuzz_dir / "pairs.jsonl"
    batch.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + raw)
    status, out, err = _main(["validate", "--batch", str(batch)])
    assert status in (0, 1, 2), err
    if status == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("iterdeploy validate: error: "), err
        assert err[:-1].isprintable(), err
    else:
        assert err == "" and out.endswith(" valid\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.lists(st.sampled_from([b"(board car1 loc1)", b"(sail loc1 loc2)", b"\n", b"\r", b"\xef\xbb\xbf",
                                           b"; <think>", b"<think>", b"</think>", b"1.", b"\xff", b"\x00", b" ",
                                           b"(debark car1 loc2)", b"(K\xe2\x84\xaa)"]), max_size=20).map(b"".join)),
       st.booleans())
def test_any_plan_file_gets_a_verdict(fuzz_dir, content, strict):
    plan = fuzz_dir / "fuzz.plan"
    plan.write_bytes(content)
    status, out, err = _main(["validate", *(["--strict"] if strict else []), "--json", str(DOMAIN), str(P01), str(plan)])
    assert status in (0, 1) and err == "", err
    row = json.loads(out)
    assert row["valid"] is (status == 0) and row["plan"] == str(plan)
