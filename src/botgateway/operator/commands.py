"""`botgateway operator`: run the kopf operator (or print the CRD it serves)."""

import argparse
import logging
import os
import sys

from botgateway.contract.environment import (
    BOTGATEWAY_COUNT_REQUESTS,
    BOTGATEWAY_LIVENESS,
    BOTGATEWAY_NAMESPACES,
)

from .crd import crd_yaml
from .settings import OperatorSettings


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
        default=None,
        help=f"liveness endpoint URL (default {BOTGATEWAY_LIVENESS.default}, or "
        f"{BOTGATEWAY_LIVENESS.name}; '' to disable)",
    )
    parser.add_argument("--print-crd", action="store_true", help="print the CRD YAML and exit")
    parser.set_defaults(command=cmd_operator)


async def cmd_operator(args: argparse.Namespace) -> int:
    if args.print_crd:
        sys.stdout.write(crd_yaml())
        return 0
    settings = OperatorSettings.from_env(os.environ)  # SettingsError: the CLI says which
    namespaces = args.namespaces or list(BOTGATEWAY_NAMESPACES.read_optional(os.environ) or ())
    liveness = BOTGATEWAY_LIVENESS.read(os.environ) if args.liveness is None else args.liveness
    if not namespaces and not args.all_namespaces:
        print(
            "botgateway: say which namespaces to watch: --namespace NS (repeatable), "
            "BOTGATEWAY_NAMESPACES=a,b, or --all-namespaces",
            file=sys.stderr,
        )
        return 2
    import kopf  # imported here: the other subcommands start faster without it

    # One line per API request is too much at INFO; kopf and our handlers say what matters.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpcore2").setLevel(logging.WARNING)

    from .handlers import build_registry

    # Benchmarks count the operator's own API requests (logged when it stops).
    registry = build_registry(
        settings, count_requests=BOTGATEWAY_COUNT_REQUESTS.read(os.environ) == "1"
    )
    await kopf.operator(
        registry=registry,
        standalone=True,  # one replica (Recreate): no peering objects, no peering RBAC
        clusterwide=bool(args.all_namespaces),
        namespaces=namespaces,
        liveness_endpoint=liveness or None,
    )
    return 0
