"""verify-outputs' admission check (docs/COMMITMENTS.md §5.3 check 22) judges deposits to
account 0, the insurance fund, as the enclave admits them (docs/PROTOCOL.md §2.7): they
register no key, so two with different keys are no `accountKeyMismatch`; any other
account's second key still is."""

from __future__ import annotations

from sealstream.outputs.public import _Check, _check_signatures


def deposit(account: int, key: str, deposit_id: int) -> dict:
    return {"kind": "deposit", "accountId": account, "accountKey": "0x" + key * 32, "amount": 1,
            "depositId": deposit_id, "signature": "0x" + "00" * 64}  # fmt: skip


def admission(records: list[dict]) -> dict:
    signature, admitted = _Check(), _Check()
    _check_signatures(records, {"markets": [], "custodyKey": "0x" + "01" * 32, "venueID": 1}, signature, admitted)
    return admitted.v


def test_fund_deposits_with_different_keys_are_admitted():
    assert admission([deposit(0, "aa", 1), deposit(0, "bb", 2)]) == {"pass": True}


def test_another_accounts_second_key_is_still_a_mismatch():
    assert admission([deposit(5, "aa", 1), deposit(5, "bb", 2)]) == {"pass": False, "error": "accountKeyMismatch"}
