"""`discard`: completes every job at once (load tests, muted bots)."""

from botgateway.queue import Job, Outcome, Succeeded

from .base import HandlerContext, JobHandler


def create(_: HandlerContext) -> JobHandler:
    async def discard(job: Job) -> Outcome:
        return Succeeded()

    return discard
