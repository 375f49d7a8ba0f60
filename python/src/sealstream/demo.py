"""Demo keys (docs/SCENARIOS.md "Demo keys"): anyone can derive them; for demos and tests."""

from __future__ import annotations

import hashlib

from nacl.signing import SigningKey


def demo_seed(role: str, name: str) -> bytes:
    """SHA-256("sealstream demo key v1|" ‖ role ‖ "|" ‖ name); role custody, publisher or trader."""
    return hashlib.sha256(f"sealstream demo key v1|{role}|{name}".encode()).digest()


def demo_key(role: str, name: str) -> SigningKey:
    return SigningKey(demo_seed(role, name))
