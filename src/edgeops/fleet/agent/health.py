"""The device's own verdict on a release it just switched to: every file intact and, when the
release carries a self-test, its model loads and gives the known output for the known input."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from edgeops.fleet.agent.slots import SlotStore

SELFTEST = "selftest.json"  # {"model": "libmodel.so", "input": [...], "expected": {"label": …}}
SELFTEST_TIMEOUT_S = 60.0
# A check returns None when the release is healthy, else a short reason (the status detail).
HealthCheck = Callable[[SlotStore], str | None]

_RUN_SELFTEST = """
import json, sys
sys.path.insert(0, sys.argv[1])
from edgeops.targets.linux_runner import Runner
test = json.load(open(sys.argv[2]))
result = Runner(sys.argv[3]).run(test["input"])
wrong = {k: [v, result.get(k)] for k, v in test["expected"].items() if result.get(k) != v}
print(json.dumps(wrong))
sys.exit(1 if wrong else 0)
"""


def integrity(slots: SlotStore) -> str | None:
    return None if slots.verified() else "installed files do not match their signed hashes"


def selftest(slots: SlotStore) -> str | None:
    """Integrity, then the release's self-test in a child process (a crashing model must not
    take the agent down with it)."""
    broken = integrity(slots)
    active = slots.active()
    if broken or active is None:
        return broken or "no release is active"
    folder = slots.folder(active)
    if not (folder / SELFTEST).exists():
        return None
    try:
        test = json.loads((folder / SELFTEST).read_bytes())
        model = folder / str(test["model"])
    except (ValueError, KeyError, TypeError) as exc:
        return f"self-test unreadable: {type(exc).__name__}"
    source = str(Path(__file__).resolve().parents[3])
    try:
        done = subprocess.run(
            [sys.executable, "-c", _RUN_SELFTEST, source, str(folder / SELFTEST), str(model)],
            capture_output=True, timeout=SELFTEST_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "self-test timed out"
    if done.returncode != 0:
        return f"self-test failed (exit {done.returncode}): {done.stdout.decode()[-200:]}"
    return None
