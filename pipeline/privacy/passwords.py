"""The dashboard's users and their passwords (``RECALL_DASHBOARD_USERS``).

``name:password[:role]`` entries, comma separated; a password may be an argon2
(``$argon2…``) or bcrypt (``$2b$…``) hash. Checking a login costs the same whatever the name:
an unknown name is checked against a stand-in of the same kind and cost as the list's own
passwords (a plain-text list costs a comparison, a hashed one a hash with the same
parameters), so timing tells nothing and a made-up name is never dearer than a real one.
Hash checks run at most ``login_hash_concurrency`` at a time per process: argon2 takes
64 MiB each, and a burst of logins must queue, not take the machine's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache

import bcrypt
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.privacy.roles import DEFAULT_ROLE, ROLES

_hasher = PasswordHasher()
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


@dataclass(frozen=True)
class User:
    name: str
    password: str  # plain text or a hash, as configured
    role: str
    role_given: bool = True  # False: the entry named no role and got DEFAULT_ROLE


def _split_role(rest: str) -> tuple[str, str, bool]:
    # A role is named last; a plain password may itself contain ":".
    password, sep, role = rest.rpartition(":")
    if sep and role in ROLES and password:
        return password, role, True
    return rest, DEFAULT_ROLE, False


@lru_cache(maxsize=4)
def parse_user_list(spec: str) -> dict[str, User]:
    """``"ann:pw:agent,bob:$argon2id$v=19$m=65536,t=3,p=4$…"`` → ``{name: User}``.

    An argon2 hash contains commas, so a piece without a ``:`` continues the previous one.
    Without a role, a user is a ``viewer``: forgetting the role must not grant control
    (lists written before roles existed meant ``admin``; the web process logs each such user
    at startup, ``auth.role_defaulted``)."""
    pieces: list[str] = []
    for piece in spec.split(","):
        if pieces and (":" not in piece or _continues_argon2(pieces[-1], piece)):
            pieces[-1] += "," + piece
        else:
            pieces.append(piece)
    users: dict[str, User] = {}
    for piece in pieces:
        name, sep, rest = piece.strip().partition(":")
        if not sep or not name or not rest:
            raise ValueError(
                f"RECALL_DASHBOARD_USERS: entry {name or piece!r} is not name:password[:role]"
            )
        password, role, given = _split_role(rest)
        users[name] = User(name, password, role, given)
    return users


def _continues_argon2(previous: str, piece: str) -> bool:
    # "…$m=65536,t=3,p=4$salt$hash:admin": the last piece holds the role's ":" yet still
    # belongs to the hash begun before it.
    return "$argon2" in previous and piece[:2] in ("t=", "p=")


def parse_users(spec: str) -> dict[str, str]:
    """``{name: password-or-hash}`` (see ``parse_user_list``)."""
    return {name: user.password for name, user in parse_user_list(spec).items()}


def _kind(stored: str) -> str:
    if stored.startswith("$argon2"):
        return "argon2"
    return "bcrypt" if stored.startswith(_BCRYPT_PREFIXES) else "plain"


def verify_password(stored: str, given: str) -> bool:
    """Compare against a plain password or an argon2/bcrypt hash, in constant time."""
    kind = _kind(stored)
    if kind == "plain":
        # Digests first: compare_digest is constant-time only for equal lengths.
        return hmac.compare_digest(_digest(stored), _digest(given))
    with _hash_slots():
        if kind == "argon2":
            try:
                return _hasher.verify(stored, given)
            except (VerificationError, InvalidHashError):
                return False
        try:
            return bcrypt.checkpw(given.encode(), stored.encode())
        except ValueError:
            return False


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None
_slot_count = 0


def set_hash_concurrency(count: int) -> None:
    """How many password hashes this process checks at once (``login_hash_concurrency``)."""
    global _slots, _slot_count
    with _slots_lock:
        if count != _slot_count:
            _slots, _slot_count = threading.BoundedSemaphore(count), count


def _hash_slots() -> threading.BoundedSemaphore:
    if _slots is None:
        set_hash_concurrency(2)
    assert _slots is not None
    return _slots


_stand_ins: dict[str, str] = {}
_stand_in_lock = threading.Lock()


def stand_in(spec: str) -> str:
    """What an unknown name is checked against: the costliest kind the list uses, with the
    same parameters, so it costs what checking a real user does, and never more. Made once
    per list, under a lock: a burst of unknown names must not each hash a stand-in."""
    found = _stand_ins.get(spec)
    if found is None:
        with _stand_in_lock:
            found = _stand_ins.get(spec)
            if found is None:
                found = _stand_ins[spec] = _make_stand_in(spec)
    return found


def _make_stand_in(spec: str) -> str:
    stored = [user.password for user in parse_user_list(spec).values()]
    argon = [s for s in stored if _kind(s) == "argon2"]
    if argon:
        try:
            hasher = PasswordHasher.from_parameters(extract_parameters(argon[0]))
        except InvalidHashError:
            hasher = _hasher
        return hasher.hash(secrets.token_hex(16))
    crypt = [s for s in stored if _kind(s) == "bcrypt"]
    if crypt:
        rounds = int(crypt[0].split("$")[2]) if crypt[0].split("$")[2].isdigit() else 12
        return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=rounds)).decode()
    return secrets.token_urlsafe(24)


def check_login(spec: str, name: str, password: str) -> User | None:
    """The user, when ``name`` and ``password`` match the list; the same work either way."""
    user = parse_user_list(spec).get(name)
    ok = verify_password(user.password if user else stand_in(spec), password)
    return user if ok and user is not None else None


def credential_of(user: User, secret_key: str) -> str:
    """A fingerprint of the user's entry: changes when the password or the role does."""
    entry = f"{user.name}\0{user.password}\0{user.role}".encode("utf-8", "surrogatepass")
    return hmac.new(secret_key.encode(), entry, hashlib.sha256).hexdigest()
