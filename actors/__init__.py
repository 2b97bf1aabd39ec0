"""Dramatiq actors: thin wrappers that take ids, call one ``pipeline`` function and map
domain errors to retry, skip or permanent failure.

Importing this package sets the broker (actors.broker) before any actor is declared.
"""

from actors.broker import broker, rate_limiter_backend
from pipeline.privacy.masking import install_masking

# A worker process imports this package after dramatiq's CLI has set up logging: from here
# on, no phone number or email reaches its log handlers unmasked.
install_masking()

__all__ = ["broker", "rate_limiter_backend"]
