"""Sealstream client SDK: evidence verification, sealed order-flow sessions, public
deposits and prices, receipts and fill events, inclusion proofs and output verification.

Written from docs/PROTOCOL.md, docs/COMMITMENTS.md, docs/ATTESTATION.md and
docs/EVIDENCE.md. Submodules import PyNaCl and cryptography only where they need them,
so `sealstream.outputs` (the `verify-outputs` equivalent) runs with the standard library
alone.
"""

from .errors import *  # noqa: F401,F403

__version__ = "0.1.0"
