"""docker-compose.yml keeps the databases to itself (issue 13): only web publishes a port,
PostgreSQL and Redis sit on an internal network, Redis wants a password, and no password
has a default the compose file would silently use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_only_web_publishes_a_port() -> None:
    published = {name for name, svc in _spec()["services"].items() if svc.get("ports")}
    assert published == {"web"}


def test_databases_are_on_an_internal_network_only() -> None:
    spec = _spec()
    for name in ("postgres", "redis"):
        networks = spec["services"][name]["networks"]
        assert networks, name
        assert all(spec["networks"][n].get("internal") is True for n in networks), name


def test_redis_requires_a_password_every_client_is_given() -> None:
    spec = _spec()
    command = spec["services"]["redis"]["command"]
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${RECALL_REDIS_PASSWORD:?")
    broker = spec["services"]["web"]["environment"]["RECALL_BROKER_URL"]
    assert broker.startswith("redis://:${RECALL_REDIS_PASSWORD:?")


def test_no_password_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "recall:recall@" not in text and "POSTGRES_PASSWORD: recall" not in text
    for reference in re.findall(r"\$\{(RECALL_\w*PASSWORD)([^}]*)\}", text):
        assert reference[1].startswith(":?"), reference
