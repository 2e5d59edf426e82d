"""Job handlers: forward, telegram-echo, discard, and plugins from `botgateway.handlers`."""

from .base import HandlerContext, HandlerFactory, JobHandler
from .registry import (
    ENTRY_POINT_GROUP,
    Dispatcher,
    available_handler_types,
    build_handler,
    load_factory,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Dispatcher",
    "HandlerContext",
    "HandlerFactory",
    "JobHandler",
    "available_handler_types",
    "build_handler",
    "load_factory",
]
