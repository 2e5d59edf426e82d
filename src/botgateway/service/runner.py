"""Running the app: bind, serve until told to stop, then stop in order.

The port is bound before the app starts, so a busy port fails before a worker or a janitor round
touches the database. SIGTERM (or SIGINT, or SIGHUP: a closed terminal) stops intake (the
listening socket closes and `/readyz` fails), lets running jobs finish within
`WORKER_SHUTDOWN_GRACE`, hands the rest back to the queue, and returns 0."""

import asyncio
import contextlib
import importlib.util
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from botgateway.contract.environment import BOTGATEWAY_EVENT_LOOP
from botgateway.queue import SettingsError

from .app import Maintenance, create_app
from .metrics import Metrics
from .settings import ServiceSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(choice: str) -> LoopFactory | None:
    """The event loop `BOTGATEWAY_EVENT_LOOP` asks for; None: asyncio's own.

    uvloop by default when installed: the gateway is CPU-bound on its event loop (HTTP parsing,
    asyncpg's protocol, tasks), and uvloop runs that loop in C (`make bench --only loop`)."""
    if choice == "asyncio":
        return None
    if importlib.util.find_spec("uvloop") is None:
        if choice == "uvloop":
            raise SettingsError(
                BOTGATEWAY_EVENT_LOOP.name, choice, "auto or asyncio: uvloop is not installed"
            )
        return None
    import uvloop

    factory: LoopFactory = uvloop.new_event_loop
    return factory


def run(main: Callable[[], Coroutine[Any, Any, T]], choice: str) -> T:
    """`asyncio.run(main())` on the chosen event loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main())


class RunningService:
    """One started service; `stop()` is the graceful shutdown."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        maintenance: Maintenance | None = None,
        metrics: Metrics | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: a socket `bind()` already bound; without one, `start()` binds the settings'."""
        self.settings = settings
        self.app = create_app(settings, maintenance=maintenance, metrics=metrics)
        grace = settings.shutdown_grace.total_seconds()
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=max(grace, 1.0))
        self._sock = sock
        self._site: web.SockSite | None = None

    async def start(self) -> None:
        sock = self._sock or bind(self.settings.host, self.settings.port)
        try:
            await self._runner.setup()  # the app's startup: store, worker, janitor loop
        except BaseException:
            sock.close()
            raise
        try:
            self._site = web.SockSite(self._runner, sock)
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
        """A URL to reach the service from this machine (127.0.0.1 when it listens everywhere)."""
        host = self.settings.host
        if host in ANY_ADDRESS:
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def listening_on(self) -> str:
        """What the socket is bound to, as a URL: `http://0.0.0.0:8080` means every interface."""
        host = self.settings.host or "0.0.0.0"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> "RunningService":
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


ANY_ADDRESS = ("0.0.0.0", "", "::")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (the first address `host` resolves to); OSError when
    the port is taken."""
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return socket.create_server(address[:2], family=family, backlog=128)


def stop_on_signals(stop: asyncio.Event) -> None:
    """The first SIGTERM/SIGINT/SIGHUP asks for a graceful stop; a second one acts as usual.
    SIGHUP is there for a terminal that closes: by default it would end the process at once."""
    loop = asyncio.get_running_loop()

    def requested(sig: signal.Signals) -> None:
        log.info("%s received: stopping intake and draining", sig.name)
        for s in STOP_SIGNALS:
            loop.remove_signal_handler(s)
        stop.set()

    for sig in STOP_SIGNALS:
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
            service.listening_on,
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
