"""Task sets: specs, deterministic builds, manifests, IPC import, and the `iterdeploy tasks` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from iterdeploy.artifacts import tree_hash
from iterdeploy.cli import main
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.planning import Task, parse_plan, validate
from iterdeploy.tasks import (
    DEFAULT_SPEC, MANIFEST_COLUMNS, TASK_ID, SplitSpec, TaskSetSpec, build_taskset, from_collection,
    load_manifest, load_spec, load_taskset_task, task_seed,
)
from iterdeploy.tasks.records import TaskRecord, content_hash
from iterdeploy.config import build, to_dict
from iterdeploy.tasks.taskset import generated_records
from iterdeploy.tasks.spec import spec_of

SMALL = {
    "seed": 3,
    "planner": "constructive",
    "splits": [
        {"name": "train", "domain": "blocksworld", "sizes": [3, 4], "per_size": 3},
        {"name": "train", "domain": "ferry", "sizes": [2], "per_size": 2},
        {"name": "test", "domain": "miconic", "sizes": [2, 5], "per_size": 2},
        {"name": "deploy", "domain": "spanner", "sizes": [1, 3], "per_size": 2},
    ],
}
SMALL_DOMAINS = ["ferry", "miconic", "spanner"]
"""The IPC domains imported in tests: the ones with the smallest files."""


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sets") / "small"
    build_taskset(spec_from(SMALL), out)
    return out


# --- spec -------------------------------------------------------------------------------------


def spec_from(d) -> TaskSetSpec:
    return build(TaskSetSpec, d, "tasks")


def test_spec_from_dict_round_trips():
    spec = spec_from(SMALL)
    assert spec.seed == 3 and spec.planner == "constructive"
    assert spec.splits[0] == SplitSpec("train", "blocksworld", (3, 4), 3)
    assert spec_from(to_dict(spec)) == spec
    assert spec_from(to_dict(DEFAULT_SPEC)) == DEFAULT_SPEC


def _with(split_changes=None, **top):
    d = json.loads(json.dumps(SMALL))
    d.update(top)
    if split_changes:
        d["splits"][1].update(split_changes)
    return d


@pytest.mark.parametrize("d, message", [
    (_with(colour="red"), r"tasks\.colour: unknown key"),
    (_with({"count": 3}), r"tasks\.splits\[1\]\.count: unknown key"),
    (_with({"domain": "chess"}), r"tasks\.splits\[1\]\.domain: no generator for 'chess'; available: blocksworld"),
    (_with({"sizes": [2, 0]}), r"tasks\.splits\[1\]\.sizes: size 0: ferry"),
    (_with({"sizes": []}), r"tasks\.splits\[1\]\.sizes: must be a non-empty list"),
    (_with({"sizes": [2, 2]}), r"lists a size twice"),
    (_with({"per_size": 0}), r"tasks\.splits\[1\]\.per_size: must be >= 1"),
    (_with({"per_size": "5"}), r"tasks\.splits\[1\]\.per_size: must be an integer"),
    (_with({"name": "Train Set"}), r"tasks\.splits\[1\]\.name: 'Train Set' must match"),
    (_with({"name": "train", "domain": "blocksworld", "sizes": [4]}), r"split 'train' of blocksworld lists size \d+ twice"),
    (_with(seed=True), r"tasks\.seed: must be an integer"),
    (_with(seed=-1), r"tasks\.seed: must be >= 0"),
    (_with(planner="lama"), r"tasks\.planner: must be one of constructive, naive, fast-downward"),
    ({"seed": 0}, r"tasks\.splits: must be a non-empty list"),
    ([1, 2], r"tasks: must be a mapping"),
])
def test_bad_specs_are_config_errors_naming_the_key(d, message):
    with pytest.raises(ConfigError, match=message):
        spec_from(d)


def test_bad_size_names_the_generator_parameter():
    with pytest.raises(ConfigError, match=r"splits\[0\]\.sizes: size 1: blocksworld: parameter 'blocks'"):
        spec_from(_with(splits=[{"name": "train", "domain": "blocksworld", "sizes": [1], "per_size": 1}]))


def test_load_spec_reads_yaml_params_file_and_json(tmp_path):
    yaml_file = tmp_path / "params.yaml"
    yaml_file.write_text("other: 1\ntasks:\n  seed: 0\n  planner: constructive\n  splits:\n"
                         "    - {name: train, domain: blocksworld, sizes: [3, 4, 5], per_size: 50}\n")
    spec = load_spec(yaml_file)
    assert spec.splits == (SplitSpec("train", "blocksworld", (3, 4, 5), 50),)
    json_file = tmp_path / "spec.json"
    json_file.write_text(json.dumps(SMALL))
    assert load_spec(json_file) == spec_from(SMALL)
    (tmp_path / "bad.yaml").write_text("tasks: {seed: 0, splits: [{name: x, domain: ferry, sizes: [1]}]}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: tasks\.splits\[0\]\.per_size: missing"):
        load_spec(tmp_path / "bad.yaml")


def test_default_spec_covers_the_four_domains_and_three_splits():
    assert {s.domain for s in DEFAULT_SPEC.splits} == {"blocksworld", "ferry", "miconic", "spanner"}
    assert [s.name for s in DEFAULT_SPEC.splits[::4]] == ["train", "deploy", "test"]
    train = max(DEFAULT_SPEC.splits[0].sizes)
    assert max(s.sizes[-1] for s in DEFAULT_SPEC.splits if s.name != "train") > train


# --- seeds and ids ----------------------------------------------------------------------------


def test_task_seeds_are_stable_and_distinct():
    seeds = {task_seed(s, d, sp, z, i) for s in (0, 1) for d in ("ferry", "miconic") for sp in ("train", "test")
             for z in (3, 13) for i in range(20)}
    assert len(seeds) == 2 * 2 * 2 * 2 * 20
    assert all(0 <= s < 2**63 for s in seeds)


def test_task_seed_value_is_pinned():
    # A change here silently changes every generated task set.
    import hashlib

    digest = hashlib.sha256(b"0/blocksworld/train/3/0").digest()
    assert task_seed(0, "blocksworld", "train", 3, 0) == int.from_bytes(digest[:8], "big") >> 1


def test_task_ids_are_safe(small_set):
    manifest = load_manifest(small_set)
    assert all(TASK_ID.match(t) for t in manifest["task_id"])
    assert "blocksworld-train-s03-000" in set(manifest["task_id"])
    for bad in ("../x", "a b", "A-1", "x/y", "", "-x", "x" * 200):
        with pytest.raises(ValueError):
            TaskRecord(bad, "d", "s", 1, {}, None, b"", None, None)


# --- building ---------------------------------------------------------------------------------


def test_builds_are_byte_identical_and_seed_dependent(tmp_path, small_set):
    spec = spec_from(SMALL)
    build_taskset(spec, tmp_path / "a" / "set")
    assert tree_hash(tmp_path / "a" / "set") == tree_hash(small_set)
    build_taskset(spec.with_seed(4), tmp_path / "b")
    assert tree_hash(tmp_path / "b") != tree_hash(small_set)


def test_manifest_columns_and_files(small_set):
    manifest = load_manifest(small_set)
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert len(manifest) == 3 * 2 + 2 + 2 * 2 + 2 * 2
    assert manifest["size"].dtype == "int64"
    assert manifest["reference_length"].notna().all()
    assert manifest["difficulty"].isna().all()
    assert manifest.groupby("domain")["split"].first().to_dict() == {
        "blocksworld": "train", "ferry": "train", "miconic": "test", "spanner": "deploy"}
    files = {p.relative_to(small_set).as_posix() for p in small_set.rglob("*") if p.is_file()}
    for row in manifest.itertuples():
        assert row.problem_path == f"{row.domain}/{row.split}/{row.task_id}.pddl"
        assert row.plan_path == f"{row.domain}/{row.split}/{row.task_id}.plan"
        assert row.domain_path == f"domains/{row.domain}.pddl"
        params = json.loads(row.params)
        assert list(params) == sorted(params)
        plan = (small_set / row.plan_path).read_text()
        assert plan.endswith(f"; cost = {row.reference_length} (unit cost)\n")
        assert len(parse_plan(plan, strict=True).steps) == row.reference_length
        assert f"(define (problem {row.task_id})" in (small_set / row.problem_path).read_text()
        assert row.content_hash == content_hash((small_set / row.problem_path).read_bytes())
        files -= {row.problem_path, row.plan_path}
    assert files == {"manifest.parquet", "spec.json", *(f"domains/{d}.pddl" for d in
                                                         ("blocksworld", "ferry", "miconic", "spanner"))}
    # spec.json: the spec without the unset (null) keys of its splits, read back to the same spec
    written = json.loads((small_set / "spec.json").read_text())
    assert written == {**to_dict(spec_from(SMALL)), "splits": [
        {k: v for k, v in split.items() if v is not None} for split in to_dict(spec_from(SMALL))["splits"]]}
    assert spec_of(small_set) == spec_from(SMALL)


def test_load_taskset_task_validates_reference_plans(small_set):
    manifest = load_manifest(small_set)
    for row in manifest.itertuples():
        task = load_taskset_task(small_set, row)
        assert isinstance(task, Task)
        assert validate(task, (small_set / row.plan_path).read_text(), strict=True).valid
    assert isinstance(load_taskset_task(small_set, manifest.iloc[0].to_dict()), Task)


def test_content_hash_ignores_name_comments_and_layout():
    a = ";; x=1\n(define (problem a)\n (:domain d)\n (:init (p o)))\n"
    b = "(define (problem other) (:domain d) (:init   (p o) ) )"
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("(p o)", "(p q)"))


def test_load_manifest_errors_clearly(tmp_path):
    with pytest.raises(IterdeployError, match=r"manifest\.parquet: no task set manifest here"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(IterdeployError, match=r"manifest\.parquet: cannot read manifest"):
        load_manifest(tmp_path)
    pd.DataFrame({"task_id": ["x"]}).to_parquet(tmp_path / "manifest.parquet")
    with pytest.raises(IterdeployError, match=r"manifest lacks columns domain, split"):
        load_manifest(tmp_path)


def test_build_never_replaces_other_data(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not a task set"):
        build_taskset(spec_from(SMALL), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_rebuild_replaces_a_task_set(tmp_path):
    spec = spec_from(SMALL)
    build_taskset(spec, tmp_path / "set")
    build_taskset(spec.only(["ferry"]), tmp_path / "set")
    assert set(load_manifest(tmp_path / "set")["domain"]) == {"ferry"}
    assert not (tmp_path / "set" / "blocksworld").exists()


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    from iterdeploy.tasks import taskset

    calls = []

    def failing(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    real = taskset.generate_task
    monkeypatch.setattr(taskset, "generate_task", failing)
    with pytest.raises(KeyboardInterrupt):
        build_taskset(spec_from(SMALL), tmp_path / "set")
    assert list(tmp_path.iterdir()) == []


# --- importing a collection -------------------------------------------------------------------


def test_import_ipc_keeps_splits_files_and_plans(ipc_root, tmp_path):
    manifest = build_taskset(from_collection(ipc_root, SMALL_DOMAINS), tmp_path / "ipc")
    out = tmp_path / "ipc"
    for domain in SMALL_DOMAINS:
        rows = manifest[manifest["domain"] == domain]
        train = sorted((ipc_root / domain / "training").glob("*/*.pddl"))
        test = sorted((ipc_root / domain / "testing").glob("*/*.pddl"))
        plans = list((ipc_root / domain / "plans").glob("*/*/*.plan"))
        assert (rows["split"] == "train").sum() == len(train)
        assert (rows["split"] == "test").sum() == len(test)
        assert rows["plan_path"].notna().sum() == len(plans)
        assert set(rows.loc[rows["split"] == "test", "difficulty"]) == {"easy", "medium"}
        assert (out / "domains" / f"{domain}.pddl").read_bytes() == (ipc_root / domain / "domain.pddl").read_bytes()
    # Three of the IPC domains in full: 159 + 159 + 149 problems, each with its plan.
    assert len(manifest) == 467 and manifest["plan_path"].notna().all()
    row = manifest.set_index("task_id").loc["spanner-test-easy-p01"]
    assert (out / row["problem_path"]).read_bytes() == (ipc_root / "spanner/testing/easy/p01.pddl").read_bytes()
    assert (out / row["plan_path"]).read_bytes() == (ipc_root / "spanner/plans/testing/easy/p01.plan").read_bytes()
    # spanners=1, nuts=1, locations=4: bob, a spanner, a nut, shed + 4 + gate.
    assert row["size"] == 9
    assert json.loads(row["params"]) == {"locations": 4, "nuts": 1, "objects": 9, "spanners": 1}
    assert pd.isna(row["seed"])
    assert all(TASK_ID.match(t) for t in manifest["task_id"])


def test_import_errors(tmp_path, ipc_root):
    with pytest.raises(ConfigError, match="not a directory"):
        from_collection(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"no <domain>/domain\.pddl"):
        from_collection(tmp_path)
    with pytest.raises(ConfigError, match=r"domain 'chess' not in collection.*blocksworld, childsnack"):
        from_collection(ipc_root, ["chess"])


# --- CLI --------------------------------------------------------------------------------------


def test_cli_generate_and_check(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(SMALL))  # JSON is YAML too
    out = tmp_path / "set"
    assert main(["tasks", "generate", "--out", str(out), "--params", str(spec), "--domains", "ferry,spanner"]) == 0
    assert "wrote 6 tasks (ferry 2, spanner 4)" in capsys.readouterr().out
    assert main(["tasks", "check", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == ["domain", "split", "sizes", "tasks", "plans", "valid", "mean_len", "max_len",
                                "unique", "shared"]
    assert lines[2].split()[:6] == ["ferry", "train", "2", "2", "2", "2"]
    assert lines[3].split()[:6] == ["spanner", "deploy", "1-3", "4", "4", "4"]
    assert "6/6 reference plans valid" in text


def test_cli_check_reports_an_invalid_plan(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["tasks", "generate", "--out", str(out), "--params", _spec_file(tmp_path), "--tasks.seed", "9"]) == 0
    manifest = load_manifest(out)
    victim = manifest.iloc[0]
    (out / victim["plan_path"]).write_text("(pickup nothing)\n")
    capsys.readouterr()
    assert main(["tasks", "check", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"invalid: {victim['task_id']}: invalid: unknown_object" in text
    assert f"{len(manifest) - 1}/{len(manifest)} reference plans valid" in text


def _spec_file(tmp_path) -> str:
    path = tmp_path / "small.json"
    path.write_text(json.dumps(SMALL))
    return str(path)


def test_cli_import(ipc_root, tmp_path, capsys):
    assert main(["tasks", "import", "--from", str(ipc_root), "--out", str(tmp_path / "ipc"),
                 "--domains", "miconic"]) == 0
    assert "wrote 159 tasks (miconic 159)" in capsys.readouterr().out
    assert main(["tasks", "check", str(tmp_path / "ipc")]) == 0
    text = capsys.readouterr().out
    assert "159/159 reference plans valid" in text


@pytest.mark.parametrize("argv, message", [
    (["tasks", "generate", "--out", "{tmp}/x", "--domains", "chess"], "no generator for domain 'chess'"),
    (["tasks", "generate", "--out", "{tmp}/x", "--params", "{tmp}/missing.yaml"], "not found"),
    (["tasks", "check", "{tmp}"], "no task set manifest here"),
    (["tasks", "import", "--from", "{tmp}/nothing", "--out", "{tmp}/x"], "not a directory"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("iterdeploy tasks: error: ")


def test_no_task_repeats_across_splits_even_where_sizes_are_tiny():
    # 3-block blocksworld has 169 distinct tasks: without re-draws, test tasks would repeat deploy tasks.
    spec = spec_from({"seed": 0, "splits": [
        {"name": "deploy", "domain": "blocksworld", "sizes": [3], "per_size": 60},
        {"name": "test", "domain": "blocksworld", "sizes": [3], "per_size": 40},
    ]})
    hashes = [content_hash(r.problem) for r in generated_records(spec)]
    assert len(hashes) == 100 and len(set(hashes)) == 100


def test_a_size_too_small_for_its_count_is_a_config_error():
    spec = spec_from({"seed": 0, "splits": [
        {"name": "train", "domain": "blocksworld", "sizes": [2], "per_size": 20}]})
    with pytest.raises(ConfigError, match="too few distinct tasks"):
        list(generated_records(spec))


# --- manifests that are wrong, or hostile --------------------------------------------------------


def _edited_copy(small_set: Path, tmp_path: Path, edit) -> Path:
    import shutil

    copy = tmp_path / "set"
    shutil.copytree(small_set, copy)
    manifest = pd.read_parquet(copy / "manifest.parquet")
    edit(manifest, copy)
    manifest.to_parquet(copy / "manifest.parquet")
    return copy


def _first(column: str, value):
    def edit(manifest, root):
        manifest.loc[0, column] = value
    return edit


@pytest.mark.parametrize("edit, words", [
    (lambda m, root: (root / m.loc[0, "plan_path"]).unlink(), ["task 'blocksworld-train-s03-000': plan_path",
                                                               "reference plan file", "not found"]),
    (_first("task_id", "ferry-train-s02-001"), ["task_id 'ferry-train-s02-001' occurs more than once (rows 1, 8)"]),
    (_first("task_id", "../x"), ["row 1: task_id '../x' is not a task id"]),
    (_first("plan_path", "../../../../etc/passwd"), ["plan_path '../../../../etc/passwd' leaves the task set folder"]),
    (_first("problem_path", "/etc/passwd"), ["problem_path '/etc/passwd' leaves the task set folder"]),
    (_first("domain_path", "domains/../../outside.pddl"), ["domain_path", "leaves the task set folder"]),
    (_first("domain_path", None), ["domain_path is not a path"]),
    (_first("problem_path", "blocksworld"), ["problem file 'blocksworld' is not a regular file"]),
])
def test_a_bad_manifest_is_one_error_naming_it(small_set, tmp_path, capsys, edit, words):
    root = _edited_copy(small_set, tmp_path, edit)
    with pytest.raises(IterdeployError) as info:
        load_manifest(root)
    message = str(info.value)
    assert message.startswith(f"{root / 'manifest.parquet'}: ") and "\n" not in message
    for word in words:
        assert word in message
    assert main(["tasks", "check", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("iterdeploy tasks: error: ") and "manifest.parquet" in err


@pytest.mark.parametrize("target", ["file", "folder"])
def test_a_symbolic_link_out_of_the_folder_is_refused(small_set, tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.pddl").write_text((small_set / "domains" / "ferry.pddl").read_text())

    def edit(manifest, root):
        if target == "file":
            (root / "domains" / "link.pddl").symlink_to(outside / "stolen.pddl")
            manifest.loc[0, "domain_path"] = "domains/link.pddl"
        else:
            (root / "elsewhere").symlink_to(outside)
            manifest.loc[0, "domain_path"] = "elsewhere/stolen.pddl"

    root = _edited_copy(small_set, tmp_path, edit)
    with pytest.raises(IterdeployError, match=r"manifest\.parquet: task .*: domain_path .* leads out of the task set"):
        load_manifest(root)
    row = pd.read_parquet(root / "manifest.parquet").iloc[0].to_dict()
    with pytest.raises(IterdeployError, match="leads out of the task set folder"):
        load_taskset_task(root, row)


def test_a_link_inside_the_folder_is_fine(small_set, tmp_path):
    def edit(manifest, root):
        (root / "domains" / "alias.pddl").symlink_to(root / "domains" / "blocksworld.pddl")
        manifest.loc[0, "domain_path"] = "domains/alias.pddl"

    root = _edited_copy(small_set, tmp_path, edit)
    row = load_manifest(root).iloc[0].to_dict()
    assert isinstance(load_taskset_task(root, row), Task)
    with pytest.raises(IterdeployError, match="problem_path '../x.pddl' leaves the task set folder"):
        load_taskset_task(root, {**row, "problem_path": "../x.pddl"})
