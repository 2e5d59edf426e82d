"""`botgateway operator`: run the kopf operator (or print the CRD it serves)."""

import argparse
import logging
import os
import sys

from .crd import crd_yaml
from .settings import OperatorSettings, OperatorSettingsError


def add_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "operator",
        help="run the BotGateway operator (kopf)",
        description="Reconcile BotGateway resources into running gateways. Watches the "
        "namespaces given by --namespace (repeatable, or BOTGATEWAY_NAMESPACES, comma-separated), "
        "or every namespace with --all-namespaces.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        default=None,
        metavar="NS",
        help="a namespace to watch (repeatable); its RoleBinding must grant the operator's role",
    )
    scope.add_argument(
        "--all-namespaces",
        "-A",
        action="store_true",
        help="watch every namespace (needs the role bound cluster-wide)",
    )
    parser.add_argument(
        "--liveness",
        default=os.environ.get("BOTGATEWAY_LIVENESS", "http://0.0.0.0:8080/healthz"),
        help="liveness endpoint URL (default http://0.0.0.0:8080/healthz; '' to disable)",
    )
    parser.add_argument("--print-crd", action="store_true", help="print the CRD YAML and exit")
    parser.set_defaults(command=cmd_operator)


async def cmd_operator(args: argparse.Namespace) -> int:
    if args.print_crd:
        sys.stdout.write(crd_yaml())
        return 0
    try:
        settings = OperatorSettings.from_env(os.environ)
    except OperatorSettingsError as exc:
        print(f"botgateway: {exc}", file=sys.stderr)
        return 2
    namespaces = args.namespaces or [
        n.strip() for n in os.environ.get("BOTGATEWAY_NAMESPACES", "").split(",") if n.strip()
    ]
    if not namespaces and not args.all_namespaces:
        print(
            "botgateway: say which namespaces to watch: --namespace NS (repeatable), "
            "BOTGATEWAY_NAMESPACES=a,b, or --all-namespaces",
            file=sys.stderr,
        )
        return 2
    import kopf  # imported here: the other subcommands start faster without it

    _configure_logging(json_lines=settings.log_format == "json")
    # One line per API request is too much at INFO; kopf and our handlers say what matters.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpcore2").setLevel(logging.WARNING)

    from .handlers import build_registry

    # Benchmarks count the operator's own API requests (logged when it stops).
    registry = build_registry(
        settings, count_requests=os.environ.get("BOTGATEWAY_COUNT_REQUESTS") == "1"
    )
    await kopf.operator(
        registry=registry,
        standalone=True,  # one replica (Recreate): no peering objects, no peering RBAC
        clusterwide=bool(args.all_namespaces),
        namespaces=namespaces,
        liveness_endpoint=args.liveness or None,
    )
    return 0


def _configure_logging(*, json_lines: bool) -> None:
    """kopf's own formatters (JSON through python-json-logger) replace the CLI's plain handler,
    so every line, kopf's and ours, has one shape; LOG_LEVEL still decides the level."""
    import kopf

    root = logging.getLogger()
    level = root.level
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    kopf.configure(log_format=kopf.LogFormat.JSON if json_lines else kopf.LogFormat.FULL)
    root.setLevel(level)
