"""Every long-running process masks what its log handlers print, whoever set them up."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from web.app import create_app

PHONE, EMAIL = "+14155550123", "zoe.lee@example.com"


@pytest.fixture
def server_handler() -> Iterator[io.StringIO]:
    """A handler like the one uvicorn puts on its own logger, before the app is built."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_the_web_app_masks_the_servers_log_handlers(server_handler: io.StringIO) -> None:
    create_app()
    logging.getLogger("uvicorn.error").error("reply from %s <%s>", PHONE, EMAIL)
    printed = server_handler.getvalue()
    assert "reply from" in printed
    assert PHONE not in printed and EMAIL not in printed
