"""`edgeops monitor` and `edgeops alerts` as a user runs them (a real process, its own home)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cbor2


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEOPS_HOME": str(tmp_path / "home"), "EDGEOPS_USER": "ops"}
    env.pop("EDGEOPS_DATABASE_URL", None)
    env.pop("EDGEOPS_PROJECT", None)
    return subprocess.run(
        [sys.executable, "-m", "edgeops", *args], env=env, text=True, capture_output=True,
        cwd=tmp_path, timeout=120,
    )  # fmt: skip


def test_monitor_and_alert_commands(tmp_path: Path) -> None:
    assert _run(tmp_path, "init", "-p", "pumps").returncode == 0
    message = tmp_path / "batch.cbor"
    message.write_bytes(cbor2.dumps({"m": 1, "d": "pump-1", "records": [{"p": "ok", "l": 4}] * 3}))
    stored = _run(tmp_path, "monitor", "ingest", str(message))
    assert stored.returncode == 0 and "3 record(s) stored" in stored.stdout
    status = _run(tmp_path, "monitor", "status", "--json")
    assert status.returncode == 0, status.stderr
    found = json.loads(status.stdout)
    assert found["telemetry"]["days"] == 1 and found["alerts"] == []
    assert _run(tmp_path, "monitor", "status").returncode == 0
    added = _run(tmp_path, "monitor", "add", "fleet", "--threshold", "min_effect=0.2", "--json")
    assert added.returncode == 0 and json.loads(added.stdout)["thresholds"] == {"min_effect": 0.2}
    assert json.loads(_run(tmp_path, "alerts", "list", "--json").stdout) == []

    for args, message_part in [
        (["alerts", "ack", "7"], "no alert 7"),
        (["monitor", "add", "x", "--window", "soon"], "duration"),
        (["monitor", "add", "y", "--threshold", "alpha"], "NAME=NUMBER"),
        (["monitor", "report", "v1"], "no model"),
        (["monitor", "check"], "no model is production"),
        (["monitor", "ingest", "missing.json"], "no such file"),
        (["alerts", "list", "--status", "sleepy"], "unknown alert status"),
    ]:
        failed = _run(tmp_path, *args)
        assert failed.returncode == 2, (args, failed.stderr)
        assert message_part in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": 1, "confidence": 3}')
    refused = _run(tmp_path, "monitor", "ingest", str(bad))
    assert refused.returncode == 2 and "confidence" in refused.stderr
