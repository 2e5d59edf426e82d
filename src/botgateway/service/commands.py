"""`botgateway serve` and `botgateway dev`, registered on the CLI's subparsers.

`maintenance` is the in-process janitor loop, supplied by the composition root so this package
does not import the janitor."""

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Coroutine
from typing import Any

from botgateway import arguments
from botgateway.logs import redact_secrets

from .app import Maintenance
from .errors import ServiceError
from .handlers import available_handler_types
from .runner import serve, stop_on_signals
from .settings import ROLES, ServiceSettings


def add_commands(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]",
    *,
    maintenance: Maintenance | None = None,
) -> None:
    serve_parser = subparsers.add_parser(
        "serve", help="run the webhook and/or the worker (and the janitor loop)"
    )
    serve_parser.add_argument("--host", default="0.0.0.0", help="address to bind (0.0.0.0)")
    serve_parser.add_argument(
        "--port", type=arguments.port, default=8080, help="port to bind, 0 for any free one (8080)"
    )
    serve_parser.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="webhook, worker, or all (default); every role serves /healthz, /readyz, /metrics",
    )

    def run_serve(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
        return cmd_serve(args, maintenance)

    serve_parser.set_defaults(command=run_serve, event_loop=True)

    dev_parser = subparsers.add_parser(
        "dev", help="one-command local gateway: embedded PostgreSQL, worker, janitor, demo bot"
    )
    dev_parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)"
    )
    dev_parser.add_argument(
        "--port", type=arguments.port, default=8080, help="port to bind, 0 for any free one (8080)"
    )
    dev_parser.add_argument(
        "--data-dir",
        help="where the embedded PostgreSQL keeps its data (BOTGATEWAY_DEV_DIR, .cache/dev)",
    )
    dev_parser.add_argument(
        "--token",
        help="a real bot token: the demo bot then echoes text messages through the Bot API "
        "(without one it uses the discard handler)",
    )

    def run_dev(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
        return cmd_dev(args, maintenance)

    dev_parser.set_defaults(command=run_dev, event_loop=True)


async def cmd_serve(args: argparse.Namespace, maintenance: Maintenance | None) -> int:
    try:
        settings = ServiceSettings.from_env(os.environ, handler_types=available_handler_types())
    except ServiceError as exc:
        print(f"botgateway: {exc}", file=sys.stderr)
        return 2
    settings = _with_args(settings, args)
    redact_secrets(settings.secrets())
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        return await serve(settings, maintenance=maintenance, stop=stop)
    except ServiceError as exc:
        print(f"botgateway: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"botgateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


async def cmd_dev(args: argparse.Namespace, maintenance: Maintenance | None) -> int:
    from .dev import run_dev

    return await run_dev(args, maintenance)


def _with_args(settings: ServiceSettings, args: argparse.Namespace) -> ServiceSettings:
    return dataclasses.replace(
        settings,
        host=args.host,
        port=args.port,
        role=getattr(args, "role", "all"),
    )
