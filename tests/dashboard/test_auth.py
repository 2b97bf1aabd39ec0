"""Password checks and the user list (web.auth), without a server."""

from __future__ import annotations

import bcrypt
import pytest
from argon2 import PasswordHasher

from web.auth import _safe_next, parse_users, verify_password


def test_user_list_keeps_argon2_hashes_whole_although_they_contain_commas() -> None:
    argon = PasswordHasher().hash("s3cret")
    assert "," in argon
    bcrypt_hash = bcrypt.hashpw(b"other", bcrypt.gensalt(rounds=4)).decode()
    users = parse_users(f"ann:{argon}, bob:{bcrypt_hash},carol:plain:with:colons")
    assert users == {"ann": argon, "bob": bcrypt_hash, "carol": "plain:with:colons"}
    assert verify_password(users["ann"], "s3cret")
    assert not verify_password(users["ann"], "s3cret ")
    assert verify_password(users["bob"], "other")
    assert not verify_password(users["bob"], "Other")
    assert verify_password(users["carol"], "plain:with:colons")
    assert not verify_password(users["carol"], "plain")


@pytest.mark.parametrize("spec", ["ann", "ann:", ":pw", "ann:pw,:x"])
def test_a_malformed_user_list_is_refused_by_name(spec: str) -> None:
    with pytest.raises(ValueError, match="RECALL_DASHBOARD_USERS"):
        parse_users(spec)


def test_broken_hashes_never_verify() -> None:
    assert not verify_password("$argon2id$garbage", "x")
    assert not verify_password("$2b$12$short", "x")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/dashboard/inbox", "/dashboard/inbox"),
        ("//evil.example", "/dashboard"),
        ("https://evil.example", "/dashboard"),
        (None, "/dashboard"),
    ],
)
def test_login_only_returns_to_local_paths(given: str | None, expected: str) -> None:
    assert _safe_next(given) == expected
