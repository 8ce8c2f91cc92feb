"""Ingestion from the event loop: uploads are parsed, then the request waits for its group
commit without holding a thread."""

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from edgeops.data.ingest import Destination, Outcome, Upload, prepare

# Uploads up to this size are parsed on the event loop. A 1-second accelerometer recording
# (a few KB) parses in about 0.1 ms, less than handing it to a pool thread and back costs on a
# busy machine (and the GIL keeps the loop waiting while a pool thread parses anyway); bigger
# uploads go to the pool so that one large file does not hold up every other request.
INLINE_PARSE_BYTES = 64 * 1024


async def ingest(
    request: Request, destination: Destination, uploads: list[Upload]
) -> list[Outcome]:
    """Store `uploads` with the app's committer; returns once they are durable (or refused).
    A request cancelled while it waits leaves its commit to go on."""
    ingestor = request.app.state.ingestor
    if sum(len(upload.data) for upload in uploads) <= INLINE_PARSE_BYTES:
        job = prepare(destination, uploads)
    else:
        job = await run_in_threadpool(prepare, destination, uploads)
    outcomes: list[Outcome] = await ingestor.submit_async(job)
    return outcomes
