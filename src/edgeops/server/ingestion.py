"""Ingestion from the event loop: the request waits for its uploads' group commit without
holding a thread."""

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from edgeops.data.ingest import Destination, Outcome, Upload, prepare, unparsed

# Uploads up to this size go to the committer as they came, and it parses them (a 1-second
# accelerometer recording, a few KB, in about 0.1 ms), which leaves the event loop more time
# for HTTP. Bigger uploads are parsed in a pool thread here: one large file must not hold up
# the group commits of every other upload.
COMMITTER_PARSES_BYTES = 64 * 1024


async def ingest(
    request: Request, destination: Destination, uploads: list[Upload]
) -> list[Outcome]:
    """Store `uploads` with the app's committer; returns once they are durable (or refused).
    A request cancelled while it waits leaves its commit to go on."""
    ingestor = request.app.state.ingestor
    if sum(len(upload.data) for upload in uploads) <= COMMITTER_PARSES_BYTES:
        job = unparsed(destination, uploads)
    else:
        job = await run_in_threadpool(prepare, destination, uploads)
    outcomes: list[Outcome] = await ingestor.submit_async(job)
    return outcomes
