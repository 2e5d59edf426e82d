"""botgateway: a Kubernetes-native Telegram bot gateway with a durable PostgreSQL job queue."""

__version__ = "0.1.0"
USER_AGENT = f"botgateway/{__version__}"
"""Sent on every request the gateway makes (to a forward backend and to the Bot API)."""
