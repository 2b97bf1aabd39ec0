"""Signatures the sandbox puts on what it posts, exactly as the providers compute them."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` for a form POST of ``params`` to ``url``."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


class EventSigner:
    """SendGrid's signed event webhook: ECDSA P-256 / SHA-256 over timestamp + body.

    The public key is given the way SendGrid's settings page shows it: base64 DER
    SubjectPublicKeyInfo, which is what ``EventWebhook(public_key)`` takes."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())

    @classmethod
    def from_file(cls, path: Path) -> EventSigner:
        """Loads a PEM private key, creating (and saving) one the first time, so the public
        key stays the same across restarts."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path}: not an EC private key")
            return cls(key)
        signer = cls()
        path.write_bytes(
            signer.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return signer

    @property
    def public_key(self) -> str:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def sign(self, timestamp: str, payload: str) -> str:
        signature = self.private_key.sign(
            (timestamp + payload).encode("utf-8"), ec.ECDSA(hashes.SHA256())
        )
        return base64.b64encode(signature).decode("ascii")
