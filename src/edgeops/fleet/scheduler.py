"""The fleet scheduler inside `edgeops serve`: `service.advance` every few seconds."""

import asyncio
import logging
from typing import TYPE_CHECKING

from fastapi.concurrency import run_in_threadpool

from edgeops.store.tables import utcnow

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

log = logging.getLogger(__name__)


def step(ws: "Workspace") -> None:
    from edgeops.fleet.service import advance

    with ws.session() as session:
        changes = advance(session, utcnow())
        session.commit()
    for change in changes:
        log.info("fleet: %s", change)


async def run_periodically(ws: "Workspace", every_s: float) -> None:
    """Until cancelled. A failing step is logged and retried at the next tick: a database
    hiccup must not stop rollouts for good. Several server processes may all run this; each
    rollout is locked while it is advanced."""
    while True:
        try:
            await run_in_threadpool(step, ws)
        except Exception:
            log.exception("fleet scheduler step failed")
        await asyncio.sleep(every_s)
