"""The webhook and worker service (see DESIGN §3)."""
