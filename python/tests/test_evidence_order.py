"""Evidence answers in request order (PROTOCOL.md §1.1, §2.12): an answer owed to an
evidence request whose caller stopped waiting is skipped, never taken for the next one."""

import collections
import struct

import pytest

from sealstream import wire
from sealstream.client import Client
from sealstream.errors import EnclaveRestarted, Refused


class ScriptedConnection:
    """Stands in for Connection: records what is sent, answers from a script in order
    (an exception in the script is raised where a notice or a timeout would be)."""

    def __init__(self, script):
        self.script = list(script)
        self.sent = []

    def send(self, frame_type, body):
        self.sent.append((frame_type, body))

    def next_reply(self, timeout=None):
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def client(script) -> Client:
    c = Client.__new__(Client)  # the real constructor opens a socket
    c.connection, c.evidence, c.report = ScriptedConnection(script), None, None
    c._evidence_nonces = collections.deque()
    return c


def refused_evidence() -> wire.Frame:
    return wire.Frame(wire.REFUSAL, struct.pack(">BQQH", wire.EVIDENCE_REQUEST, 0, 0, 15))  # enclaveUnavailable


def test_the_answer_to_an_abandoned_request_is_skipped():
    # The worker died with the first request in flight: the notice is read first, then the
    # refusal of that request, then the answer to the second.
    c = client([EnclaveRestarted(1), refused_evidence(), wire.Frame(wire.EVIDENCE, b"second")])
    with pytest.raises(EnclaveRestarted):
        c.fetch_evidence(b"\x01" * 32)
    nonce, body = c.fetch_evidence(b"\x02" * 32)
    assert (nonce, body) == (b"\x02" * 32, b"second")
    assert [b for _, b in c.connection.sent] == [b"\x01" * 32, b"\x02" * 32]


def test_a_stale_evidence_answer_is_skipped_and_a_refusal_of_this_request_raises():
    c = client([EnclaveRestarted(1), wire.Frame(wire.EVIDENCE, b"first"), refused_evidence()])
    with pytest.raises(EnclaveRestarted):
        c.fetch_evidence(b"\x01" * 32)
    with pytest.raises(Refused) as e:
        c.fetch_evidence(b"\x02" * 32)
    assert e.value.label == "enclaveUnavailable"


def test_an_answer_in_order_is_taken_at_once():
    c = client([wire.Frame(wire.EVIDENCE, b"only")])
    assert c.fetch_evidence(b"\x03" * 32) == (b"\x03" * 32, b"only")
