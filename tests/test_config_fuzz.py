"""Fuzzing params files: any mutation of params.yaml loads or is one ConfigError line naming the file."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iterdeploy.errors import ConfigError
from iterdeploy.pipeline.params import load_params
from iterdeploy.pipeline.pretrain import load_pretrain_params

REPO = Path(__file__).resolve().parents[1]
LOOP = yaml.safe_load((REPO / "params.yaml").read_text())
PRETRAIN = yaml.safe_load((REPO / "pretrain" / "params.yaml").read_text())

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([0, -1, 1e300, "1e-3", "cpu", "cuda:99", "", "inf", [], {}, [[]], 10**12]),
)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))


def _mutate(data, path, action, value):
    if not path:
        return value if action == "replace" else data
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "unknown" and isinstance(parent, dict):
        parent[f"{last}_typo"] = value
    return data


@st.composite
def mutated(draw, base):
    data = yaml.safe_load(yaml.safe_dump(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        data = _mutate(data, path, draw(st.sampled_from(["replace", "delete", "unknown"])), draw(JUNK))
    return data


def _check(tmp_path, loader, data):
    path = tmp_path / "params.yaml"
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    path.write_text(text, encoding="utf-8")
    try:
        loader(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message and len(message) < 600, message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(LOOP))
def test_mutated_loop_params_load_or_fail_in_one_line(tmp_path, data):
    _check(tmp_path, load_params, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(PRETRAIN))
def test_mutated_pretrain_params_load_or_fail_in_one_line(tmp_path, data):
    _check(tmp_path, load_pretrain_params, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_load_or_fail_in_one_line(tmp_path, raw):
    path = tmp_path / "params.yaml"
    path.write_bytes(raw)
    try:
        load_params(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_non_finite_numbers_never_pass(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(LOOP))
    data["training"]["lr"] = float("nan")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_params(path)
    except ConfigError as exc:
        assert "training.lr: must be a finite number" in str(exc)
    else:
        raise AssertionError("nan accepted")
