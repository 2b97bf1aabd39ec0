"""Started for production with the development defaults, recall refuses (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.production import is_loopback_url, unsafe_settings
from pipeline.settings import Settings
from tests.web.support import free_port

RECALL = str(Path(sys.executable).with_name("recall"))
STRONG = "k" * 48
SAFE = {
    "RECALL_SECRET_KEY": STRONG,
    "RECALL_DASHBOARD_USERS": "ops:a-long-enough-password:admin",
    "RECALL_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "RECALL_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
    "RECALL_SENDGRID_API_KEY": "SG.real-looking-key",
}


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RECALL_")}
    return subprocess.run(
        [RECALL, *command], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "command",
    [["web", "--port", "0"], ["worker", "--processes", "1"], ["scheduler"]],
)
def test_every_server_refuses_the_defaults_behind_a_public_url(command: list[str]) -> None:
    if command[0] == "web":
        command = ["web", "--port", str(free_port())]
    env = {"RECALL_PUBLIC_URL": "https://recall.example.com", "RECALL_BROKER_URL": "redis://x"}
    result = _run(command, env)
    assert result.returncode == 2, result.stderr
    for setting in (
        "RECALL_SECRET_KEY",
        "RECALL_DASHBOARD_USERS",
        "RECALL_TWILIO_AUTH_TOKEN",
        "RECALL_SENDGRID_API_KEY",
    ):
        assert setting in result.stderr
    assert "refusing to start" in result.stderr


def test_recall_run_behind_a_public_url_refuses_the_defaults_before_touching_anything(
    tmp_path: Path,
) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    database = tmp_path / "run.db"
    env = {
        "RECALL_PUBLIC_URL": "https://recall.example.com",
        "RECALL_DATABASE_URL": f"sqlite:///{database}",
    }
    command = ["run", str(examples / "campaign.yaml"), "--users", str(examples / "users.csv")]
    result = _run([*command, "--port", str(free_port())], env)
    assert result.returncode == 2, result.stderr
    assert "refusing to start" in result.stderr
    assert "RECALL_SECRET_KEY" in result.stderr
    assert not database.exists()


def test_each_unsafe_setting_is_named_alone() -> None:
    public = {"public_url": "https://recall.example.com"}
    assert unsafe_settings(_settings(**public, **_lower(SAFE))) == []
    for name, weak in [
        ("secret_key", "short"),
        ("secret_key", "change-me-in-production"),
        ("dashboard_users", "admin:admin"),
        ("dashboard_users", "ops:short"),
        ("twilio_auth_token", "sandbox-auth-token"),
        ("sendgrid_api_key", "SG.sandbox"),
        ("audit_key", "short"),
    ]:
        problems = unsafe_settings(_settings(**public, **(_lower(SAFE) | {name: weak})))
        assert len(problems) == 1, (name, problems)
        assert problems[0].startswith("RECALL_" + name.upper()), problems


def test_hashed_passwords_are_accepted_whatever_their_length() -> None:
    users = "ops:$2b$04$abcdefghijklmnopqrstuuJ3m0Zl3rn5f6bR4b2hM8nYl1uD0Qw6a"
    settings = _settings(
        public_url="https://r.example", **(_lower(SAFE) | {"dashboard_users": users})
    )
    assert unsafe_settings(settings) == []


def test_a_local_run_keeps_every_default() -> None:
    for url in (
        "http://127.0.0.1:8000",
        "http://localhost:9",
        "http://[::1]:80",
        "http://127.9.9.9",
    ):
        assert unsafe_settings(_settings(public_url=url)) == []


@given(st.ip_addresses())
def test_only_loopback_addresses_count_as_local(address: object) -> None:
    import ipaddress

    ip = ipaddress.ip_address(str(address))
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    assert is_loopback_url(f"https://{host}:8443/x") == ip.is_loopback


@given(st.text(max_size=60))
def test_any_public_url_text_gives_an_answer_not_an_exception(text: str) -> None:
    assert is_loopback_url(text) in (True, False)


def _lower(env: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("RECALL_").lower(): v for k, v in env.items()}


def test_env_example_copied_unedited_is_refused() -> None:
    from pathlib import Path

    from dotenv import dotenv_values

    example = Path(__file__).resolve().parents[2] / ".env.example"
    values = {k: v for k, v in dotenv_values(example).items() if v is not None}
    settings = _settings(**_lower(values))
    problems = " ".join(unsafe_settings(settings))
    for name in (
        "RECALL_SECRET_KEY",
        "RECALL_AUDIT_KEY",
        "RECALL_DASHBOARD_USERS",
        "RECALL_TWILIO_AUTH_TOKEN",
    ):
        assert name in problems
