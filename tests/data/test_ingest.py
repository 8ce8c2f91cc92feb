"""The Ingestor: group commits, duplicates within and across groups, one audit event per caller."""

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from tests.conftest import ei_file

from edgeops.data.ingest import (
    Destination,
    IngestJob,
    Ingestor,
    Outcome,
    Upload,
    parse_upload,
    prepare,
    unparsed,
)
from edgeops.errors import StorageUnavailable
from edgeops.governance import audit
from edgeops.store import crypt, staging
from edgeops.store.tables import PackedBlob, PackedBlobLog
from edgeops.workspace import Workspace

KEY = "ingest-test-key"


def _file(seed: int) -> bytes:
    return ei_file(seed, KEY, steps=10)


@pytest.fixture
def ingestor(ws: Workspace) -> Iterator[Ingestor]:
    committer = Ingestor(ws._sessions, ws.blobs, move_every_s=0.05)
    yield committer
    committer.close()


def _destination(ws: Workspace, actor: str = "tester", **rules: bool) -> Destination:
    project = ws.projects.get("test")
    return Destination(
        project_id=project.id, actor=actor, source="test", category="training",
        hmac_key=KEY, allow_unsigned=False, **rules,
    )  # fmt: skip


def test_a_group_stores_new_samples_and_resolves_duplicates(
    ws: Workspace, ingestor: Ingestor
) -> None:
    destination = _destination(ws)
    [first] = ingestor.ingest(destination, [Upload("a.json", _file(1), label="a")])
    assert first.ok and first.sample_id is not None

    # One group holding: data stored before, the same new data twice, and a bad file.
    uploads = [
        Upload("again.json", _file(1), label="a"),
        Upload("new.json", _file(2), label="b"),
        Upload("new-again.json", _file(2), label="b"),
        Upload("bad.json", b"{not json", label="c"),
    ]
    again, new, new_again, bad = ingestor.ingest(destination, uploads)
    assert again.sample_id == first.sample_id
    assert new.ok and new.sample_id not in (None, first.sample_id)
    assert new_again.sample_id == new.sample_id
    assert not bad.ok and bad.sample_id is None
    assert sorted(s.id for s in ws.data.samples(project="test")) == sorted(
        {first.sample_id, new.sample_id}
    )


def test_disallowed_duplicates_are_refused_naming_the_existing_sample(
    ws: Workspace, ingestor: Ingestor
) -> None:
    [stored] = ingestor.ingest(_destination(ws), [Upload("a.json", _file(3), label="a")])
    strict = _destination(ws, disallow_duplicates=True)
    [refused, fresh, fresh_again] = ingestor.ingest(
        strict,
        [
            Upload("a.json", _file(3), label="a"),
            Upload("b.json", _file(4), label="b"),
            Upload("b2.json", _file(4), label="b"),
        ],
    )
    assert refused.error is not None and f"sample {stored.sample_id}" in refused.error
    assert fresh.ok
    assert fresh_again.error is not None and "already holds this data" in fresh_again.error


def test_jobs_handed_over_together_share_one_commit_and_one_event_per_caller(
    ws: Workspace, ingestor: Ingestor
) -> None:
    alice, bob = _destination(ws, "alice"), _destination(ws, "bob")
    jobs = []
    for destination, seeds in ((alice, [10, 11]), (bob, [12]), (alice, [13]), (bob, [10])):
        job = IngestJob(destination, {}, future=Future())
        for index, seed in enumerate(seeds):
            job.rows[index], blobs = parse_upload(Upload(f"{seed}.json", _file(seed)), destination)
            job.blobs.update(blobs)
            job.outcomes.append(Outcome(f"{seed}.json"))
        jobs.append(job)
    ingestor.put_many(jobs)  # one batch, one group
    results = [job.future.result(timeout=30) for job in jobs if job.future]
    ids = [[outcome.sample_id for outcome in outcomes] for outcomes in results]
    assert ids[3] == [ids[0][0]]  # bob's copy of alice's first file is the same sample
    assert len({i for row in ids for i in row}) == 4

    with ws.session() as session:
        events = audit.events(session, action="sample.ingest")
        assert audit.verify(session).ok
    stored = {e.actor: e.details["ids"] for e in events}
    assert stored == {"alice": sorted([*ids[0], *ids[2]]), "bob": sorted([*ids[1], *ids[3]])}
    assert [e.id for e in events] == [events[0].id, events[0].id - 1]  # consecutive


def test_a_failed_commit_stores_nothing_and_tells_every_caller(
    ws: Workspace, ingestor: Ingestor
) -> None:
    destination = _destination(ws)
    gone = Destination(**{**destination.__dict__, "project_id": 10_000})  # no such project
    ok_job, bad_job = (
        IngestJob(destination, {}, future=Future()),
        IngestJob(gone, {}, future=Future()),
    )
    for job, seed in ((ok_job, 20), (bad_job, 21)):
        job.rows[0], job.blobs = parse_upload(Upload("x.json", _file(seed)), job.destination)
        job.outcomes.append(Outcome("x.json"))
    ingestor.commit([ok_job, bad_job])
    for job in (ok_job, bad_job):
        assert job.future is not None
        with pytest.raises(StorageUnavailable, match=r"(?i)foreign key.*nothing was kept"):
            job.future.result(timeout=30)
    assert ws.data.samples(project="test") == []
    with ws.session() as session:
        assert audit.events(session, action="sample.ingest") == []


def test_ingested_blobs_are_packed_and_read_back(ws: Workspace, ingestor: Ingestor) -> None:
    data = _file(30)
    [outcome] = ingestor.ingest(_destination(ws), [Upload("a.json", data)])
    sample = ws.data.get(outcome.sample_id)  # type: ignore[arg-type]
    with ws.session() as session:
        assert staging.read(session, ws.blobs, sample.original_hash) == data
    staging.merge(ws._sessions)  # what the mover does every `move_every_s`
    with ws.session() as session:
        packed = set(session.scalars(select(PackedBlob.digest)))
        assert session.scalar(select(func.count()).select_from(PackedBlobLog)) == 0
        assert staging.read(session, ws.blobs, sample.original_hash) == data
    assert {sample.original_hash, sample.content_hash} <= packed
    assert not ws.blobs.exists(sample.original_hash)  # no file per blob
    expected = json.loads(data)["payload"]["values"]
    np.testing.assert_allclose(ws.data.values(sample), np.array(expected, dtype=np.float32))


def test_an_encrypted_projects_blobs_are_staged_then_sealed(ws: Workspace) -> None:
    """Packs hold blobs in clear, so an encrypted project's uploads take the staged path: the
    mover seals them on their way to the blob store."""
    from edgeops.governance import encryption

    with ws.session() as session:
        encryption.enable(ws, session, ws.projects.get("test"))
    ingestor = Ingestor(ws._sessions, ws.blobs, move_every_s=0.05)
    data = _file(31)  # once: a signed file carries the second it was signed in
    try:
        [outcome] = ingestor.ingest(_destination(ws), [Upload("a.json", data)])
    finally:
        ingestor.close()
    sample = ws.data.get(outcome.sample_id)  # type: ignore[arg-type]
    with ws.session() as session:
        assert session.scalar(select(func.count()).select_from(PackedBlob)) == 0
        assert session.scalar(select(func.count()).select_from(PackedBlobLog)) == 0
    stored = Path(ws.blobs.path(sample.original_hash)).read_bytes()
    assert stored.startswith(crypt.MAGIC)
    assert ws.data.original(sample) == data


def test_event_loop_callers_get_their_own_outcomes_once_committed(
    ws: Workspace, ingestor: Ingestor
) -> None:
    """Many callers on one event loop, woken once per group: each gets its own outcomes, a bad
    file is refused alone, and a caller that gives up (cancelled) still has its sample stored."""
    destination = _destination(ws)

    async def callers() -> tuple[list[list[Outcome]], Outcome]:
        jobs = [prepare(destination, [Upload(f"{seed}.json", _file(seed))]) for seed in range(40)]
        jobs.append(
            prepare(destination, [Upload("ok.json", _file(99)), Upload("bad.json", b"{oops")])
        )
        waiters = [ingestor.submit_async(job) for job in jobs]
        waiters[0].cancel()
        answered = await asyncio.gather(*waiters[1:])
        return answered, jobs[0].outcomes[0]

    answered, gave_up = asyncio.run(callers())  # groups commit in order: jobs[0] is done too
    *singles, [ok, bad] = answered
    assert all(outcome.ok for [outcome] in singles)
    assert ok.ok and not bad.ok and "not valid JSON" in (bad.error or "")
    assert gave_up.ok and gave_up.sample_id is not None
    ids = {outcome.sample_id for [outcome] in singles} | {ok.sample_id, gave_up.sample_id}
    assert len(ids) == 41
    assert {s.id for s in ws.data.samples(project="test")} == ids
    with ws.session() as session:
        logged = [
            i for e in audit.events(session, action="sample.ingest") for i in e.details["ids"]
        ]
        assert audit.verify(session).ok
    assert sorted(logged) == sorted(ids)  # every stored sample in exactly one event


def test_a_small_batch_is_committed_on_the_callers_thread_when_the_committer_is_idle(
    ws: Workspace,
) -> None:
    threads: list[str] = []

    def answer(group: list[IngestJob], results: object, error: Exception | None) -> None:
        threads.append(threading.current_thread().name)
        assert error is None

    committer = Ingestor(ws._sessions, ws.blobs, answer=answer)
    try:
        small = [prepare(_destination(ws), [Upload(f"{i}.json", _file(i))]) for i in range(2)]
        committer.put_many(small, here_below=3)
        assert threads == [threading.current_thread().name]  # committed before it returned
        large = [prepare(_destination(ws), [Upload(f"{i}.json", _file(i))]) for i in range(2, 5)]
        committer.put_many(large, here_below=3)
    finally:
        committer.close()  # commits what was handed over
    assert threads[1:] == ["edgeops-committer"]
    assert len(ws.data.samples(project="test")) == 5


def test_an_unparsed_job_is_parsed_by_put(ws: Workspace, ingestor: Ingestor) -> None:
    destination = _destination(ws)

    async def callers() -> list[list[Outcome]]:
        good = unparsed(destination, [Upload("ok.json", _file(7)), Upload("bad.json", b"{")])
        bad = unparsed(destination, [Upload("bad.json", b"{")])  # nothing to commit
        return await asyncio.gather(ingestor.submit_async(good), ingestor.submit_async(bad))

    [ok, bad], [alone] = asyncio.run(callers())
    assert ok.sample_id is not None and "not valid JSON" in (bad.error or "")
    assert alone.sample_id is None and "not valid JSON" in (alone.error or "")
    assert [s.id for s in ws.data.samples(project="test")] == [ok.sample_id]


def test_an_event_loop_caller_gets_the_commit_error(ws: Workspace, ingestor: Ingestor) -> None:
    gone = Destination(**{**_destination(ws).__dict__, "project_id": 10_000})  # no such project

    async def caller() -> list[Outcome]:
        return await ingestor.submit_async(prepare(gone, [Upload("x.json", _file(50))]))

    with pytest.raises(Exception, match=r"(?i)foreign key"):
        asyncio.run(caller())
    assert ws.data.samples(project="test") == []


def test_committers_on_one_sqlite_file_take_turns(ws: Workspace, ingestor: Ingestor) -> None:
    """Two committers (as in two server processes) on one database: while one holds its turn,
    the other's group waits, and goes through once the turn is free."""
    if ws.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL committers wait on its row locks, which wake them at once")
    other = Ingestor(ws._sessions, ws.blobs, move_every_s=0.05)
    try:
        with ingestor._turns.turn():
            waiting = other.submit(_destination(ws), [Upload("a.json", _file(60))])
            with pytest.raises(TimeoutError):
                waiting.result(timeout=0.5)
        [outcome] = waiting.result(timeout=30)
    finally:
        other.close()
    assert outcome.ok and ws.data.get(outcome.sample_id) is not None  # type: ignore[arg-type]


def test_turning_encryption_on_seals_packed_blobs_and_erases_them_from_the_pack(
    ws: Workspace, ingestor: Ingestor
) -> None:
    from edgeops.governance import encryption

    data = _file(32)
    [outcome] = ingestor.ingest(_destination(ws), [Upload("a.json", data)])
    sample = ws.data.get(outcome.sample_id)  # type: ignore[arg-type]
    with ws.session() as session:
        result = encryption.enable(ws, session, ws.projects.get("test"))
    assert result["blobs_sealed"] == 2
    assert Path(ws.blobs.path(sample.original_hash)).read_bytes().startswith(crypt.MAGIC)
    folder = staging.pack_folder(ws.blobs)
    assert folder is not None
    assert all(data not in pack.read_bytes() for pack in folder.glob("*.pack"))
    assert ws.data.original(sample) == data
