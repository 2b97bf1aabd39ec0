"""The FastAPI app: webhooks, response links, dashboard, JSON API and /metrics."""
