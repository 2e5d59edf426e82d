"""`bench-record`: a `discard` that first notes when it started, per update, for the latency
figure. Registered by the bench server as a third-party handler (entry-point group
`botgateway.handlers`), the way any plugin is found."""

import time

from botgateway.queue import Job, Outcome, Succeeded
from botgateway.service.handlers import HandlerContext, JobHandler

HANDLER_TYPE = "bench-record"
ENTRY_POINT = f"{HANDLER_TYPE} = tests.bench.record_handler:create"

STARTED: dict[int, float] = {}
"""update_id -> `time.perf_counter()` when the handler first started on it."""


def create(_: HandlerContext) -> JobHandler:
    async def record(job: Job) -> Outcome:
        STARTED.setdefault(job.update_id, time.perf_counter())
        return Succeeded()

    return record
