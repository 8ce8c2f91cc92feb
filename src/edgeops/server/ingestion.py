"""Ingestion from the event loop: uploads are parsed, then the request waits for its group
commit without holding a thread."""

import asyncio

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from edgeops.data.ingest import Destination, Outcome, Upload

# Uploads up to this size are parsed on the event loop. A 1-second accelerometer recording
# (a few KB) parses in about 0.2 ms, less than handing it to a pool thread and back costs on a
# busy machine (and the GIL keeps the loop waiting while a pool thread parses anyway); bigger
# uploads go to the pool so that one large file does not hold up every other request.
INLINE_PARSE_BYTES = 64 * 1024


async def ingest(
    request: Request, destination: Destination, uploads: list[Upload]
) -> list[Outcome]:
    """Store `uploads` with the app's Ingestor; returns once they are durable (or refused)."""
    ingestor = request.app.state.ingestor
    if sum(len(upload.data) for upload in uploads) <= INLINE_PARSE_BYTES:
        committed = ingestor.submit(destination, uploads)
    else:
        committed = await run_in_threadpool(ingestor.submit, destination, uploads)
    # Shielded: a request cancelled while it waits must not cancel the commit it is part of.
    outcomes: list[Outcome] = await asyncio.shield(asyncio.wrap_future(committed))
    return outcomes
