"""The `edgeops` command as a user runs it: a real process, exit codes, --json output."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.conftest import Run

KEY = "test-hmac-key"


def test_whole_flow_with_json_output(edgeops: Run,
                                     write_ei: Callable[..., Path]) -> None:  # fmt: skip
    folder = write_ei("idle.1.json", seed=1).parent
    for i in range(2, 6):
        write_ei(f"idle.{i}.json", seed=i)
    assert edgeops("init", "--project", "p").returncode == 0

    imported = edgeops("data", "import", str(folder), "--hmac-key", KEY, "--json")
    assert imported.returncode == 0, imported.stderr
    assert len(json.loads(imported.stdout)["imported"]) == 5

    listed = json.loads(edgeops("data", "list", "--json").stdout)
    assert [row["label"] for row in listed] == ["idle"] * 5
    assert {"id", "label", "category", "kind", "shape", "content_hash"} <= set(listed[0])

    shown = json.loads(edgeops("data", "show", str(listed[0]["id"]), "--json").stdout)
    assert [s["axis"] for s in shown["stats"]] == ["accX", "accY", "accZ"]

    assert edgeops("data", "commit", "-m", "v1").returncode == 0
    assert edgeops("data", "label", "1", "--label", "busy").returncode == 0
    assert edgeops("data", "commit", "-m", "v2").returncode == 0
    versions = json.loads(edgeops("data", "versions", "--json").stdout)
    assert [v["message"] for v in versions] == ["v2", "v1"]
    assert versions[0]["parent_id"] == versions[1]["id"]

    diff = json.loads(edgeops("data", "diff", versions[1]["short_id"], versions[0]["short_id"],
                              "--json").stdout)  # fmt: skip
    assert diff["relabelled"] == [
        {"id": 1, "filename": "idle.1.json", "from": "idle", "to": "busy"}
    ]

    old = json.loads(edgeops("data", "list", "--version", versions[1]["id"], "--json").stdout)
    assert [row["label"] for row in old] == ["idle"] * 5

    projects = json.loads(edgeops("project", "list", "--json").stdout)
    assert [p["name"] for p in projects] == ["p"]


def test_failed_files_give_exit_code_2_and_one_line_each(
    edgeops: Run, write_ei: Callable[..., Path]
) -> None:
    good = write_ei("idle.1.json", seed=1)
    (good.parent / "idle.2.json").write_text("{not json")
    edgeops("init", "--project", "p")
    result = edgeops("data", "import", str(good.parent))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    failure_lines = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert len(failure_lines) == 1 and "idle.2.json" in failure_lines[0]
    assert "1 imported" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "list"], "no edgeops workspace"),
    ],
)
def test_commands_outside_a_workspace_say_how_to_start(
    edgeops: Run, args: list[str], message: str
) -> None:
    result = edgeops(*args)
    assert result.returncode == 2
    assert message in result.stderr and "edgeops init" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "show", "999"], "has no sample 999"),
        (["data", "label", "1", "--label", "a/b"], "not allowed"),
        (["data", "move", "1", "--category", "validation"], "use 'training' or 'testing'"),
        (["data", "diff", "abcd", "ef01"], "no dataset version abcd"),
        (["data", "commit", "-m", "x"], "no samples to commit"),
        (["project", "create", "Bad Name"], "not allowed"),
        (["data", "list", "--project", "nope"], "no project named 'nope'"),
    ],
)
def test_bad_input_is_one_readable_line_with_exit_code(
    edgeops: Run, args: list[str], message: str
) -> None:
    edgeops("init", "--project", "p")
    result = edgeops(*args)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(edgeops: Run) -> None:
    assert edgeops("data", "import").returncode == 2
    assert edgeops("data", "import", "x", "--label-from", "sky").returncode == 2
    assert edgeops("--help").returncode == 0
    version = edgeops("--version")
    assert version.returncode == 0 and version.stdout.startswith("edgeops 0.")


def test_blocks_list_names_every_registered_block(
    edgeops: Run,
) -> None:
    from edgeops.blocks import registry

    listed = json.loads(edgeops("blocks", "list", "--json").stdout)
    assert [(b["name"], b["version"]) for b in listed] == [
        (block.name, block.version) for block in registry.all_blocks()
    ]
    assert all(isinstance(b["params"], dict) and b["kind"] == "feature" for b in listed)
    assert "spectral" in edgeops("blocks", "list").stdout
