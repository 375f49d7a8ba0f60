"""COMMITMENTS.md §4.2 and §5 (`--url`) without a host: the record array splitter and the
assembly of the files' bytes from a batch-by-batch read of the API."""
from __future__ import annotations

import pytest

from sealstream.http import EpochChanged, HTTPError, fetch_outputs, record_array


def test_record_arrays_split_at_top_level_commas_only():
    assert record_array(b"[]") == []
    tricky = rb'{"s":"a,b]}\",[","n":[1,2,{"x":[3]}]}'
    assert record_array(b"[" + tricky + b',{"b":2}]') == [tricky, b'{"b":2}']
    for bad in [b"", b"[", b"{}", b"[,]", b'[{"a":1},]', b'[,{"a":1}]', b'[{"a":1},,{"b":2}]', b'[{"a":"x]', b"[}{]"]:
        with pytest.raises(ValueError):
            record_array(bad)


class FakeAPI:
    """Three batches; batch 1 holds two decisions, every batch one input and one leaf."""

    def __init__(self, gone: str | None = None):
        self.asked: list[str] = []
        self.gone = gone

    def _ask(self, what: str, batch: int) -> None:
        self.asked.append(f"{what}{batch}")
        if self.gone == f"{what}{batch}":
            raise HTTPError(404, what)

    def batches(self, start: int, limit: int) -> bytes:
        self.asked.append(f"batches{start}")
        if limit == 1:  # asked again at the end
            return b'[{"h":%d}]' % start if self.gone != f"epoch{start}" else b'[{"h":"new"}]'
        return b'[{"h":0},{"h":1},{"h":2}]' if start == 0 else b"[]"

    def decisions(self, batch: int) -> bytes:
        self._ask("decisions", batch)
        return b'[{"d":1},{"d":2}]' if batch == 1 else b"[]"

    def inputs(self, batch: int) -> bytes:
        self._ask("inputs", batch)
        return b'[{"i":%d}]' % batch

    def funding(self, batch: int) -> bytes:
        self._ask("funding", batch)
        return b"[]"

    def market_data(self, batch: int) -> bytes:
        self._ask("marketdata", batch)
        return b"[]"

    def events(self, batch: int) -> bytes:
        self._ask("events", batch)
        return bytes([batch]) * 49


def test_the_files_are_each_batchs_lines_in_order():
    files = fetch_outputs(FakeAPI())
    assert files["batches.jsonl"] == b'{"h":0}\n{"h":1}\n{"h":2}\n'
    assert files["decisions.jsonl"] == b'{"d":1}\n{"d":2}\n'
    assert files["inputs.jsonl"] == b'{"i":0}\n{"i":1}\n{"i":2}\n'
    assert files["funding.jsonl"] == b"" and files["marketdata.jsonl"] == b""
    assert files["events.log"] == b"\x00" * 49 + b"\x01" * 49 + b"\x02" * 49


def test_a_batch_gone_meanwhile_stops_the_read():
    with pytest.raises(HTTPError):
        fetch_outputs(FakeAPI(gone="funding1"))


def test_an_epoch_changed_while_reading_stops_the_read():
    with pytest.raises(EpochChanged):
        fetch_outputs(FakeAPI(gone="epoch0"))
    api = FakeAPI()
    fetch_outputs(api)
    assert api.asked[-2:] == ["batches0", "batches2"], "the first and last headers asked for again"


def test_headers_are_listed_a_page_at_a_time():
    class Paged(FakeAPI):
        def batches(self, start: int, limit: int) -> bytes:
            self.asked.append(f"batches{start}")
            if limit == 1:
                return b"[{}]"
            n = limit if start == 0 else 1
            return b"[" + b",".join([b"{}"] * n) + b"]"

    api = Paged()
    files = fetch_outputs(api, page=2)
    assert [a for a in api.asked if a.startswith("batches")] == ["batches0", "batches2", "batches0", "batches2"]
    assert files["batches.jsonl"].count(b"\n") == 3
