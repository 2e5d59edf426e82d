"""A third-party handler for the `botgateway.handlers` entry-point group (tests register it
through a throw-away dist-info on sys.path, exactly as an installed plugin would be found)."""

from botgateway.contract import PluginConfig
from botgateway.queue import Job, Outcome, Succeeded
from botgateway.service.handlers import HandlerContext, JobHandler

SEEN: list[tuple[str, int, str]] = []


def create(context: HandlerContext) -> JobHandler:
    assert isinstance(context.bot.handler, PluginConfig)
    label = str(context.bot.handler.options.get("label", "plugin"))

    async def handle(job: Job) -> Outcome:
        SEEN.append((job.bot_slug, job.update_id, label))
        return Succeeded()

    return handle


def refuse(context: HandlerContext) -> JobHandler:
    raise ValueError("label is required")
