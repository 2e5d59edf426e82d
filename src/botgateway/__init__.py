"""botgateway: a Kubernetes-native Telegram bot gateway with a durable PostgreSQL job queue."""

__version__ = "0.1.0"
