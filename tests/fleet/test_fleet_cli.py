"""`edgeops keys signing`, `devices`, `release` and `rollout` as a user runs them."""

import json
import stat
from pathlib import Path

from tests.cli.conftest import Run, edgeops  # noqa: F401  (the fixture)


def test_signing_devices_release_rollout_end_to_end(edgeops: Run, tmp_path: Path) -> None:  # noqa: F811
    assert edgeops("init", "--project", "p").returncode == 0
    keys_dir = tmp_path / "offline-keys"
    init = edgeops("keys", "signing", "init", "--keys-dir", str(keys_dir), "--json")
    assert init.returncode == 0, init.stderr
    written = json.loads(init.stdout)["written"]
    assert sorted(Path(p).name for p in written) == ["mcuboot.pem", "root.pem", "targets.pem"]
    assert all(stat.S_IMODE(Path(p).stat().st_mode) == 0o600 for p in written)
    again = edgeops("keys", "signing", "init", "--keys-dir", str(keys_dir))
    assert again.returncode == 1 and "rotate" in again.stderr

    registered = edgeops("devices", "register", "pump-7", "--type", "pi4", "--group", "field",
                         "--json")  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    key = json.loads(registered.stdout)["key"]
    shown = edgeops("devices", "show", "pump-7", "--json")
    assert key not in shown.stdout and json.loads(shown.stdout)["groups"] == ["field"]
    assert edgeops("devices", "tag", "pump-7", "--add", "site=a").returncode == 0
    assert json.loads(edgeops("devices", "list", "--tag", "site=a", "--json").stdout)[0][
        "device_id"] == "pump-7"  # fmt: skip

    image = tmp_path / "model.bin"
    image.write_bytes(b"\x01" * 4096)
    no_keys = edgeops("release", "create", "--device-type", "pi4", "--version", "1.0.0",
                      "--file", str(image))  # fmt: skip
    assert no_keys.returncode == 2 and "targets key" in no_keys.stderr  # default folder: none
    created = edgeops("release", "create", "--device-type", "pi4", "--version", "1.0.0",
                      "--file", str(image), "--keys-dir", str(keys_dir), "--changelog", "first",
                      "--json")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["artifacts"][0]["name"] == "model.bin"
    older = edgeops("release", "create", "--device-type", "pi4", "--version", "0.9.0",
                    "--file", str(image), "--keys-dir", str(keys_dir))  # fmt: skip
    assert older.returncode == 1 and "higher version" in older.stderr

    bad = edgeops("rollout", "create", "1.0.0", "--stages", "10,5")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "stages" in bad.stderr
    started = edgeops("rollout", "create", "1.0.0", "--group", "field", "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["state"] == "pending"
    stepped = edgeops("rollout", "advance", "--json")
    assert stepped.returncode == 0 and json.loads(stepped.stdout)[0]["event"] == "started"
    assert "paused" in edgeops("rollout", "pause", "1").stdout
    assert "aborted" in edgeops("rollout", "abort", "1").stdout
    assert edgeops("rollout", "status", "9").returncode == 2
    assert "revoked" in edgeops("devices", "revoke", "pump-7").stdout
    signing_show = edgeops("keys", "signing", "show", "--json")
    assert signing_show.returncode == 0, signing_show.stderr
    shown = json.loads(signing_show.stdout)
    assert shown["roles"]["targets"]["online"] is False
    assert shown["roles"]["timestamp"]["online"] is True
