"""Running the app: bind, serve until told to stop, then stop in order.

SIGTERM (or SIGINT) stops intake (the listening socket closes and `/readyz` fails), lets running
jobs finish within `WORKER_SHUTDOWN_GRACE`, hands the rest back to the queue, and returns 0."""

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from .app import Maintenance, create_app
from .metrics import Metrics
from .settings import ServiceSettings

log = logging.getLogger(__name__)


class RunningService:
    """One started service; `stop()` is the graceful shutdown."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        maintenance: Maintenance | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, maintenance=maintenance, metrics=metrics)
        grace = settings.shutdown_grace.total_seconds()
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=max(grace, 1.0))
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        await self._runner.setup()
        try:
            self._site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
            await self._site.start()
        except BaseException:
            await self._runner.cleanup()
            raise

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                return int(address[1])
        raise RuntimeError("the service is not listening")

    @property
    def url(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> "RunningService":
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


def stop_on_signals(stop: asyncio.Event) -> None:
    """The first SIGTERM/SIGINT asks for a graceful stop; a second one acts as usual."""
    loop = asyncio.get_running_loop()

    def requested(sig: signal.Signals) -> None:
        log.info("%s received: stopping intake and draining", sig.name)
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(s)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, requested, sig)


async def serve(
    settings: ServiceSettings,
    *,
    maintenance: Maintenance | None = None,
    stop: asyncio.Event | None = None,
    banner: bool = True,
) -> int:
    stop = stop or asyncio.Event()
    service = RunningService(settings, maintenance=maintenance)
    await service.start()
    if banner:
        log.info(
            "botgateway serving on %s (role %s, %d bot(s))",
            service.url,
            settings.role,
            len(settings.bots),
            extra={"port": service.port, "role": settings.role},
        )
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await service.stop()
    log.info("botgateway stopped")
    return 0
