"""Dramatiq actors: thin wrappers that take ids, call one ``pipeline`` function and map
domain errors to retry, skip or permanent failure.

Importing this package sets the broker (actors.broker) before any actor is declared.
"""

from actors.broker import broker, rate_limiter_backend

__all__ = ["broker", "rate_limiter_backend"]
