"""What a verifier remembers between verifications: the `--state` file of
docs/ATTESTATION.md §5.3, the same file `attestation verify --state` reads and writes.

Per attestation key (by its Name), the clock counters of the last accepted quote, so a
TPM whose state was rolled back or replaced (resetCount or restartCount going backwards,
or the clock) is noticed; and SHA-256 hashes of the nonces already accepted (the newest
4,096), so one answer is not accepted twice. `attest.verify(..., state=)` compares
against it and returns the next state in `Report.next_state` only when every check
passed; `save` writes it atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field

from .errors import PolicyError

VERSION = 1
MAX_NONCES = 4096
MAX_BYTES = 1024 * 1024
_U32, _U64 = (1 << 32) - 1, (1 << 64) - 1


@dataclass(frozen=True)
class ClockInfo:
    """TPMS_CLOCK_INFO of an accepted quote: `clock` in milliseconds, the two counters, `safe`."""

    clock: int
    reset_count: int
    restart_count: int
    safe: bool

    def to_json(self) -> dict:
        return {"clock": self.clock, "resetCount": self.reset_count, "restartCount": self.restart_count, "safe": self.safe}


@dataclass
class VerifierState:
    """`clocks` by AK Name (lower-case hex, 68 digits); `used_nonces` lower-case hex
    SHA-256 of each accepted non-empty nonce, oldest first."""

    clocks: dict[str, ClockInfo] = field(default_factory=dict)
    used_nonces: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: bytes | str) -> "VerifierState":
        """Strict: `version` 1, `clocks` an object of objects with the four fields (integers
        in range, `safe` a boolean), `usedNonces` a list of 64-digit hex strings. Raises
        PolicyError otherwise (exit status 2 in the CLIs)."""
        if len(data) > MAX_BYTES:
            raise PolicyError(f"state file over {MAX_BYTES} bytes")
        try:
            doc = json.loads(data)
        except ValueError as e:
            raise PolicyError(f"state file is not JSON: {e}") from None
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise PolicyError(f"state file version {doc.get('version') if isinstance(doc, dict) else None!r} ({VERSION} required)")
        clocks, nonces = doc.get("clocks"), doc.get("usedNonces")
        if not isinstance(clocks, dict) or not isinstance(nonces, list):
            raise PolicyError("state file needs clocks (object) and usedNonces (list)")

        def integer(v, top: int, what: str) -> int:
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
                raise PolicyError(f"state file: {what} is not an integer in 0…{top}")
            return v

        out = cls()
        for name, c in clocks.items():
            if not isinstance(c, dict) or not isinstance(c.get("safe"), bool):
                raise PolicyError(f"state file: clocks[{name!r}] malformed")
            out.clocks[name] = ClockInfo(integer(c.get("clock"), _U64, "clock"), integer(c.get("resetCount"), _U32, "resetCount"),
                                         integer(c.get("restartCount"), _U32, "restartCount"), c["safe"])  # fmt: skip
        for n in nonces:
            if not isinstance(n, str) or len(n) != 64 or any(ch not in "0123456789abcdef" for ch in n.lower()):
                raise PolicyError("state file: usedNonces holds a value that is not 32 bytes of hex")
            out.used_nonces.append(n.lower())
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> "VerifierState":
        """The state in `path`; an empty state when the file does not exist yet."""
        try:
            data = open(path, "rb").read()
        except FileNotFoundError:
            return cls()
        return cls.from_json(data)

    def to_json(self) -> bytes:
        doc = {"version": VERSION, "clocks": {k: v.to_json() for k, v in sorted(self.clocks.items())},
               "usedNonces": self.used_nonces}  # fmt: skip
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    def save(self, path: str | os.PathLike) -> None:
        """Atomically: a temporary file in the same directory, fsynced, renamed over `path`."""
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @staticmethod
    def nonce_key(nonce: bytes) -> str:
        return hashlib.sha256(nonce).hexdigest()

    def nonce_used(self, nonce: bytes) -> bool:
        return self.nonce_key(nonce) in self.used_nonces

    def clock_verdict(self, ak_name: bytes, clock: ClockInfo) -> tuple[bool, str]:
        """§5.3: (passes, detail) for a quote's clock against the one remembered for this AK."""
        last = self.clocks.get(ak_name.hex())
        if last is None:
            return True, "first quote remembered from this AK"
        if (clock.reset_count, clock.restart_count) < (last.reset_count, last.restart_count):
            return False, (f"counters went backwards from resetCount {last.reset_count}, restartCount "
                           f"{last.restart_count}: TPM state rolled back or replaced")  # fmt: skip
        if clock.clock < last.clock:
            return False, f"clock went backwards from {last.clock} ms"
        return True, f"not behind resetCount {last.reset_count}, restartCount {last.restart_count}, clock {last.clock}"

    def after(self, ak_name: bytes, clock: ClockInfo, nonce: bytes) -> "VerifierState":
        """The state after accepting a quote: this AK's clock replaced, the nonce (when not
        empty) appended, only the newest MAX_NONCES kept."""
        nxt = VerifierState(dict(self.clocks), list(self.used_nonces))
        nxt.clocks[ak_name.hex()] = clock
        if nonce:
            nxt.used_nonces = (nxt.used_nonces + [self.nonce_key(nonce)])[-MAX_NONCES:]
        return nxt
