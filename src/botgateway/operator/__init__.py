"""The kopf operator reconciling BotGateway resources (see DESIGN §4)."""
