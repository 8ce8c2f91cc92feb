"""`edgeops user|keys|audit` as a user runs them: a real process, exit codes, --json output."""

import json
import sqlite3
from pathlib import Path

import pytest
from tests.cli.conftest import Run

PASSWORD = "correct horse battery staple"


def test_users_keys_and_the_audit_log(edgeops: Run, tmp_path: Path) -> None:
    assert edgeops("init", "--project", "p").returncode == 0

    created = edgeops("user", "create", "alice", "--role", "viewer", "--password-stdin",
                      stdin=PASSWORD + "\n")  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = json.loads(edgeops("user", "list", "--json").stdout)
    assert listed == [{"name": "alice", "role": "viewer", "disabled": False,
                       "created_at": listed[0]["created_at"]}]  # fmt: skip

    made = edgeops("keys", "create", "--role", "device", "--device", "pump-7", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["secret"].startswith(f"eo_{key['prefix']}_")
    assert (key["role"], key["project"], key["device_id"]) == ("device", "p", "pump-7")
    assert "not shown again" in made.stderr

    plain = edgeops("keys", "create", "--role", "admin", "--all-projects", "--name", "ci")
    assert plain.returncode == 0, plain.stderr
    secret_line = [line for line in plain.stdout.splitlines() if line.startswith("eo_")]
    assert len(secret_line) == 1 and "not shown again" in plain.stderr

    keys = json.loads(edgeops("keys", "list", "--json").stdout)
    assert [(k["role"], k["project"]) for k in keys] == [("device", "p"), ("admin", None)]
    assert all("secret" not in k and "secret_hash" not in k for k in keys)
    assert edgeops("keys", "revoke", key["prefix"]).returncode == 0
    revoked = json.loads(edgeops("keys", "list", "--project", "p", "--json").stdout)
    assert [k["revoked_at"] is not None for k in revoked] == [True]

    log = json.loads(edgeops("audit", "log", "--json").stdout)
    assert [e["action"] for e in log] == ["key.revoke", "key.create", "key.create",
                                          "user.create", "project.create"]  # fmt: skip
    assert {e["actor"] for e in log} == {"ops"}
    only = json.loads(edgeops("audit", "log", "--action", "key.create", "--limit", "1",
                              "--json").stdout)  # fmt: skip
    assert [e["id"] for e in only] == [4]
    assert (
        json.loads(edgeops("audit", "log", "--project", "p", "--json").stdout)[0]["project"] == "p"
    )

    intact = edgeops("audit", "verify")
    assert intact.returncode == 0 and "5 events" in intact.stdout
    with sqlite3.connect(tmp_path / "home" / "edgeops.db") as connection:
        connection.execute("UPDATE audit_events SET actor = 'someone-else' WHERE id = 2")
    broken = edgeops("audit", "verify")
    assert broken.returncode == 1
    assert broken.stderr.strip().count("\n") == 0 and "event 2" in broken.stderr
    assert "edited" in broken.stderr
    report = json.loads(edgeops("audit", "verify", "--json").stdout)
    assert (report["ok"], report["bad_event_id"], report["problem"]) == (False, 2, "edited")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "create", "bob", "--role", "viewer", "--password-stdin"], "short\n", "12 to"),
        (["user", "create", "bob", "--role", "root", "--password-stdin"], PASSWORD, "unknown role"),
        (["keys", "create", "--role", "device"], None, "needs a device id"),
        (["keys", "create", "--role", "viewer", "--all-projects"], None, "needs a project"),
        (["keys", "revoke", "nosuchprefix"], None, "no API key"),
        (["audit", "log", "--project", "nope"], None, "no project named"),
    ],
)
def test_mistakes_give_one_line_and_exit_code_2(
    edgeops: Run, args: list[str], stdin: str | None, message: str
) -> None:
    edgeops("init", "--project", "p")
    result = edgeops(*args, stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
