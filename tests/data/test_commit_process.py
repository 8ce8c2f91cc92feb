"""The committer in its own process: answers after commit, survives its child's death, ends
when its server dies, and commits everything it was sent before it closes."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import ei_file

from edgeops.data import commit_process
from edgeops.data.commit_process import CommitProcess
from edgeops.data.ingest import Destination, IngestJob, Outcome, Upload, prepare, unparsed
from edgeops.errors import StorageUnavailable
from edgeops.workspace import Workspace

KEY = "commit-process-key"


def _file(seed: int) -> bytes:
    return ei_file(seed, KEY, steps=10)


def _destination(ws: Workspace, **rules: bool) -> Destination:
    project = ws.projects.get("test")
    return Destination(project.id, "tester", "test", "training", KEY, False, **rules)


@pytest.fixture
def committer(ws: Workspace) -> Iterator[CommitProcess]:
    process = CommitProcess(ws.settings)
    yield process
    process.close()


def _gone(pid: int, within_s: float) -> bool:
    """Whether the process ended within `within_s` (a zombie, not yet reaped, has ended)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_uploads_are_committed_in_the_child_and_answered(
    ws: Workspace, committer: CommitProcess
) -> None:
    destination = _destination(ws, disallow_duplicates=True)
    files = [_file(i) for i in range(20)]
    futures = [committer.submit(destination, [Upload(f"{i}.json", f)]) for i, f in enumerate(files)]
    futures.append(committer.submit(destination, [Upload("bad.json", b"{not json")]))
    outcomes = [future.result(timeout=60)[0] for future in futures]
    assert committer.pid() not in (None, os.getpid())
    stored = {s.id: s for s in ws.data.samples(project="test")}
    assert sorted(o.sample_id for o in outcomes[:20]) == sorted(stored)  # type: ignore[type-var]
    assert outcomes[-1].sample_id is None and "JSON" in (outcomes[-1].error or "")
    sample = stored[outcomes[0].sample_id]  # type: ignore[index]
    assert ws.data.original(sample) == files[0]  # its blobs are readable from here
    (again,) = committer.submit(destination, [Upload("0.json", files[0])]).result(timeout=60)
    assert again.sample_id is None and "already holds this data" in (again.error or "")
    assert ws.audit.verify().ok


def test_submit_async_answers_on_the_event_loop(ws: Workspace, committer: CommitProcess) -> None:
    destination = _destination(ws)

    async def upload() -> list[list[Outcome]]:
        jobs = [prepare(destination, [Upload(f"{i}.json", _file(i))]) for i in range(8)]
        return await asyncio.gather(*(committer.submit_async(job) for job in jobs))

    answers = asyncio.run(upload())
    ids = [outcomes[0].sample_id for outcomes in answers]
    assert None not in ids and len(set(ids)) == 8
    assert len(ws.data.samples(project="test")) == 8


def test_the_child_parses_unparsed_uploads_and_answers_each_file(
    ws: Workspace, committer: CommitProcess
) -> None:
    """Small HTTP uploads reach the child as they came: it parses them, stores the files that
    parse and answers the others with their own errors, without a commit for a job of bad
    files only."""
    destination = _destination(ws)
    mixed = [Upload("ok.json", _file(1)), Upload("bad.json", b"{oops")]
    mixed.append(Upload("ok2.json", _file(2)))

    async def upload() -> list[list[Outcome]]:
        jobs = [unparsed(destination, mixed), unparsed(destination, [Upload("x.json", b"\x00")])]
        jobs.append(prepare(destination, [Upload("parsed.json", _file(3))]))  # both kinds at once
        return await asyncio.gather(*(committer.submit_async(job) for job in jobs))

    [ok, bad, ok2], [refused], [parsed] = asyncio.run(upload())
    assert ok.sample_id is not None and ok2.sample_id is not None and parsed.sample_id is not None
    assert bad.sample_id is None and "not valid JSON" in (bad.error or "")
    assert refused.sample_id is None and refused.error
    stored = {s.id: s for s in ws.data.samples(project="test")}
    assert set(stored) == {ok.sample_id, ok2.sample_id, parsed.sample_id}
    assert ws.data.original(stored[ok2.sample_id]) == mixed[2].data  # type: ignore[index]
    assert ws.audit.verify().ok


def test_a_parser_failure_is_that_files_error_not_the_childs_end(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(job: IngestJob) -> None:
        raise RecursionError("a bug in a parser")

    monkeypatch.setattr(commit_process, "parse", broken)
    job = unparsed(_destination(ws), [Upload("a.json", _file(1)), Upload("b.json", _file(2))])
    commit_process._parse(job)
    assert job.rows == {}
    assert all("failed to read this file" in (o.error or "") for o in job.outcomes)
    assert "RecursionError" in capsys.readouterr().err  # the traceback is in the server's log


def test_a_dead_child_fails_what_it_held_and_the_next_upload_starts_another(
    ws: Workspace, committer: CommitProcess
) -> None:
    destination = _destination(ws)
    committer.submit(destination, [Upload("0.json", _file(0))]).result(timeout=60)
    first = committer.pid()
    assert first is not None
    os.kill(first, signal.SIGSTOP)  # the next upload waits in it...
    waiting = committer.submit(destination, [Upload("1.json", _file(1))])
    os.kill(first, signal.SIGKILL)  # ...and is never answered by it
    with pytest.raises(StorageUnavailable, match="send them again"):
        waiting.result(timeout=60)
    (outcome,) = committer.submit(destination, [Upload("2.json", _file(2))]).result(timeout=60)
    assert outcome.sample_id is not None and committer.pid() not in (None, first)


def test_close_commits_everything_sent_before(ws: Workspace) -> None:
    committer = CommitProcess(ws.settings)
    destination = _destination(ws)
    futures = [committer.submit(destination, [Upload(f"{i}.json", _file(i))]) for i in range(50)]
    child = committer.pid()
    committer.close()
    assert all(f.done() and f.result()[0].sample_id is not None for f in futures)
    assert len(ws.data.samples(project="test")) == 50
    assert child is not None and _gone(child, 10)
    with pytest.raises(StorageUnavailable, match="shutting down"):
        committer.submit(destination, [Upload("late.json", _file(99))])


def test_the_child_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Workspace(home).projects.create("test")
    script = (
        "import sys, time\n"
        "from edgeops.data.commit_process import CommitProcess\n"
        "from edgeops.workspace import Workspace\n"
        f"process = CommitProcess(Workspace({str(home)!r}).settings)\n"
        "process.start()\n"
        "print(process.pid(), flush=True)\n"
        "time.sleep(600)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    child = int(server.stdout.readline())
    server.kill()
    server.wait()
    assert _gone(child, 20)
