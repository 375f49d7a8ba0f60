# pragma version ~=0.4.3
"""
@title SealstreamVerifier
@notice Accepts the enclave's signed batch headers, in chain order, and proves
        individual liquidation decisions against them (docs/COMMITMENTS.md §2.3, §3).
@dev    Each enclave worker instance is an epoch (§1): its own secp256k1 signer and
        its own header chain, from batch 0 with previousHeaderHash = 0. The owner
        (the auditor) begins an epoch for a signer only after checking that worker's
        attestation off-chain; from then on anyone may relay that epoch's headers and
        decisions, since every input is checked against a signature or a signed root.
        Beginning an epoch ends the previous one (a restarted worker supersedes the
        crashed one); batches of every epoch stay on record, so decisions of earlier
        epochs stay verifiable.
"""

# ---------------------------------------------------------------- spec types (§3)

struct BatchHeader:
    venueId: uint64
    batchIndex: uint64
    previousHeaderHash: bytes32
    firstSequence: uint64
    lastSequence: uint64
    enclaveTime: uint64
    eventsRoot: bytes32
    stateRoot: bytes32
    accountCount: uint64
    decisionsRoot: bytes32
    decisionCount: uint64
    marketDataRoot: bytes32
    haltedMarkets: DynArray[uint32, 256]

struct LiquidationDecision:
    venueId: uint64
    sequence: uint64
    enclaveTime: uint64
    account: bytes32
    market: uint32
    isBuy: bool
    size: int64
    markPrice: int64
    bankruptcyPrice: int64
    worstPrice: int64
    equity: int64
    maintenanceRequirement: int64
    reason: uint8
    filledOnBook: int64
    toInsuranceFund: int64
    autoDeleveraged: int64
    liquidationFee: int64
    # SHA-256 of the step's fills (docs/COMMITMENTS.md §3); the fills are in the record.
    fillsHash: bytes32
    # Salted SHA-256 of the account's state just before the step, and of the marks and
    # maintenance fractions of every market it held then (§3): what a challenge opens.
    stateHash: bytes32
    marksHash: bytes32
    # SHA-256 of the scenario that triggered the step on an account holding options, zero
    # on the linear model (§3); the scenario is in the record. Hashed, never interpreted.
    scenarioHash: bytes32

# One entry of a challenge's marks (§6.1): per position of the opened state, in order.
struct Mark:
    market: uint32
    # Quote micro-units per whole base unit.
    mark: int64
    # The fraction the enclave says it used: hashed to open marksHash, never trusted
    # (the contract computes with the epoch's registered maintenanceBps).
    maintenanceBps: uint32

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
NAME_HASH: constant(bytes32) = keccak256("Sealstream")
VERSION_HASH: constant(bytes32) = keccak256("1")
HEADER_TYPEHASH: constant(bytes32) = keccak256(
    "BatchHeader(uint64 venueId,uint64 batchIndex,bytes32 previousHeaderHash,uint64 firstSequence,uint64 lastSequence,uint64 enclaveTime,bytes32 eventsRoot,bytes32 stateRoot,uint64 accountCount,bytes32 decisionsRoot,uint64 decisionCount,bytes32 marketDataRoot,uint32[] haltedMarkets)"
)
DECISION_TYPEHASH: constant(bytes32) = keccak256(
    "LiquidationDecision(uint64 venueId,uint64 sequence,uint64 enclaveTime,bytes32 account,uint32 market,bool isBuy,int64 size,int64 markPrice,int64 bankruptcyPrice,int64 worstPrice,int64 equity,int64 maintenanceRequirement,uint8 reason,int64 filledOnBook,int64 toInsuranceFund,int64 autoDeleveraged,int64 liquidationFee,bytes32 fillsHash,bytes32 stateHash,bytes32 marksHash,bytes32 scenarioHash)"
)

# Signatures with s above n/2 are the malleable twins of low-s ones; the enclave
# only produces low-s, so refusing the rest keeps one valid encoding per header.
# (secp256k1n // 2, as a decimal since Vyper reads 64 hex digits as bytes32.)
SECP256K1N_HALF: constant(uint256) = (
    57896044618658097711785492504343953926418782139537452191302581570759080747168
)

# A 64-bit tree size needs at most 64 proof hashes.
MAX_PROOF: constant(uint256) = 64

# A challenge opens a state of at most this many positions (§6.1); an account holding
# more cannot be challenged on chain.
MAX_POSITIONS: constant(uint256) = 64
# §2.2 state bytes: id u64, collateral i128, count u32, per position market u32 ‖ size
# i64 ‖ cost basis i128 ‖ funding index i128 (44 bytes), open order count u32.
STATE_FIXED: constant(uint256) = 32
POSITION_BYTES: constant(uint256) = 44
MAX_STATE: constant(uint256) = 2848  # STATE_FIXED + MAX_POSITIONS * POSITION_BYTES
# Market ids a maintenance table may set in one call.
MAX_TIERS: constant(uint256) = 256

# Stored as the last header hash while the current epoch has no batch yet (its
# batch 0 must name previousHeaderHash = 0). It is a keccak256 output, so no header
# hash (another keccak256 output) can equal it; the views report it as zero.
# Why not store zero itself: see "Gas" below.
NO_PREVIOUS_HEADER: constant(bytes32) = keccak256("sealstream/v1/no-previous-header")

# ------------------------------------------------------------------------- events

event EpochBegun:
    epoch: indexed(uint64)
    signer: indexed(address)

# The epoch accepts no further batch: ended by the owner, or superseded by the
# next beginEpoch. batchCount is the number of batches it accepted.
event EpochEnded:
    epoch: indexed(uint64)
    signer: indexed(address)
    batchCount: uint64

event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)

event BatchSubmitted:
    epoch: indexed(uint64)
    batchIndex: indexed(uint64)
    headerHash: bytes32
    signer: address
    decisionsRoot: bytes32
    decisionCount: uint64

# The owner registered a market's maintenance fraction for an epoch (§6.1).
event MaintenanceSet:
    epoch: indexed(uint64)
    market: indexed(uint32)
    maintenanceBps: uint32

# A decision was proven wrong: at its committed state and marks, with the epoch's
# registered fractions, the account was not below maintenance. The epoch is frozen.
event LiquidationDisproven:
    epoch: indexed(uint64)
    batchIndex: indexed(uint64)
    structHash: indexed(bytes32)
    leafIndex: uint64
    account: bytes32
    market: uint32
    equity: int256
    maintenance: int256
    challenger: address

event DecisionVerified:
    epoch: indexed(uint64)
    batchIndex: indexed(uint64)
    leafIndex: uint64
    structHash: bytes32
    account: bytes32
    market: uint32

# -------------------------------------------------------------------------- state

venueId: public(immutable(uint64))

# Cached like OpenZeppelin's EIP712: valid only while chain id and address are the
# ones seen at deployment (a fork or a delegatecall context gets a fresh one).
CACHED_CHAIN_ID: immutable(uint256)
CACHED_SELF: immutable(address)
CACHED_DOMAIN_SEPARATOR: immutable(bytes32)

owner: public(address)

# The current (latest) epoch; 0 before the first beginEpoch.
epoch: public(uint64)
# Who signs each epoch's headers: written once by beginEpoch and kept after the
# epoch ends, as the record of which attested signer an epoch's batches carry.
epochSigner: public(HashMap[uint64, address])
# The epoch a signer was attested for (0: never). A signer names one epoch only:
# headers carry no epoch number, so a signer admitted twice would let its first
# chain be replayed as a second one.
signerEpoch: public(HashMap[address, uint64])
# The current epoch's signer while it accepts batches; empty(address) before the
# first epoch and after endEpoch.
activeSigner: public(address)

# ---- Gas. The current epoch's chain position, in two slots that submitBatch only
# ever overwrites with nonzero values. An SSTORE from zero to nonzero costs 20,000
# gas, from nonzero to another nonzero 2,900 (EIP-2200, EIP-2929). Were "batch 0
# next, no previous header" stored as zeros, every epoch's batch 0 would pay
# 2 x 17,100 gas more than a later batch (it cost 106,728 when this contract held a
# single chain: over the 80,000 target that later batches meet). So the next index
# is stored plus one, "no previous header" is the nonzero NO_PREVIOUS_HEADER, and
# beginEpoch (the owner's transaction, once per epoch) pays for making them nonzero;
# submitBatch's only zero-to-nonzero write is the batch's own commitment slot.
# Read them through nextBatchIndex() and lastHeaderHash().
_nextIndexPlusOne: uint64
_lastHeaderHash: bytes32

# One slot per batch, by (epoch, batch index): keccak256(abi_encode(decisionsRoot,
# decisionCount)). Callers of verifyDecision pass root and count as calldata, which
# is cheaper than two SLOADs.
_batchCommitment: HashMap[uint64, HashMap[uint64, bytes32]]

# Keyed by the decision's struct hash: a decision is acted upon at most once, in
# whichever epoch's batch it is proven.
consumed: public(HashMap[bytes32, bool])

# Per epoch and market: the tier maintenanceBps the venue configuration measured for
# that epoch gives the market (1...9999; 0: not registered). Set by the owner.
maintenanceBps: public(HashMap[uint64, HashMap[uint32, uint32]])
# An epoch in which a liquidation was proven wrong: it accepts no batch and verifies
# no decision from then on (§6.1).
frozen: public(HashMap[uint64, bool])
# Decisions proven wrong, by struct hash: the challenger, recorded once.
disprovenBy: public(HashMap[bytes32, address])


@deploy
def __init__(venue_id: uint64):
    venueId = venue_id
    CACHED_CHAIN_ID = chain.id
    CACHED_SELF = self
    CACHED_DOMAIN_SEPARATOR = self._build_domain_separator()
    self.owner = msg.sender
    log OwnershipTransferred(previousOwner=empty(address), newOwner=msg.sender)


# ------------------------------------------------------------------- owner actions

@internal
@view
def _only_owner():
    assert msg.sender == self.owner, "owner"


@external
def beginEpoch(signer: address):
    """
    @notice Starts the next epoch, whose headers `signer` signs, at batch 0 with no
            previous header. Call only after verifying the attestation of the worker
            that holds `signer`. A still-running epoch ends here: its worker is gone.
    """
    self._only_owner()
    assert signer != empty(address), "zero"
    assert self.signerEpoch[signer] == 0, "reused"
    current: address = self.activeSigner
    if current != empty(address):
        log EpochEnded(
            epoch=self.epoch, signer=current, batchCount=self._nextIndexPlusOne - 1
        )
    e: uint64 = self.epoch + 1
    self.epoch = e
    self.epochSigner[e] = signer
    self.signerEpoch[signer] = e
    self.activeSigner = signer
    # Nonzero encodings of "batch 0 next" and "no previous header" (see Gas above).
    self._nextIndexPlusOne = 1
    self._lastHeaderHash = NO_PREVIOUS_HEADER
    log EpochBegun(epoch=e, signer=signer)


@external
def endEpoch():
    """
    @notice The current epoch accepts no further batch (its worker stopped, or its
            signer is no longer trusted). Batches it already committed stay
            verifiable; only a new beginEpoch accepts batches again.
    """
    self._only_owner()
    current: address = self.activeSigner
    assert current != empty(address), "epoch"
    self.activeSigner = empty(address)
    log EpochEnded(epoch=self.epoch, signer=current, batchCount=self._nextIndexPlusOne - 1)


@external
def setMaintenance(markets: DynArray[uint32, MAX_TIERS], bps: DynArray[uint32, MAX_TIERS]):
    """
    @notice Registers, for the current epoch, each market's tier `maintenanceBps` as
            the venue configuration its worker measured gives it (docs/CONFIG.md;
            checked off-chain against the evidence's configHash, like the signer).
            Only before the epoch's first batch, each market once: what a challenge
            computes with is fixed before any decision exists. Option markets are
            not registered (their margin is the portfolio's, docs/OPTIONS.md §10.3).
    """
    self._only_owner()
    assert self.activeSigner != empty(address), "epoch"
    assert self._nextIndexPlusOne == 1, "late"
    assert len(markets) == len(bps), "length"
    e: uint64 = self.epoch
    for i: uint256 in range(MAX_TIERS):
        if i >= len(markets):
            break
        f: uint32 = bps[i]
        assert f >= 1 and f <= 9999, "bps"
        assert self.maintenanceBps[e][markets[i]] == 0, "reused"
        self.maintenanceBps[e][markets[i]] = f
        log MaintenanceSet(epoch=e, market=markets[i], maintenanceBps=f)


@external
def transferOwnership(newOwner: address):
    self._only_owner()
    assert newOwner != empty(address), "zero"
    log OwnershipTransferred(previousOwner=self.owner, newOwner=newOwner)
    self.owner = newOwner


# ------------------------------------------------------------------------ batches

@external
def submitBatch(header: BatchHeader, v: uint8, r: bytes32, s: bytes32):
    expected_signer: address = self.activeSigner
    assert expected_signer != empty(address), "epoch"
    assert header.venueId == venueId, "venue"
    # beginEpoch set it to 1, so an active epoch never reads 0 here.
    index: uint64 = self._nextIndexPlusOne - 1
    assert header.batchIndex == index, "index"
    previous: bytes32 = self._lastHeaderHash
    if previous == NO_PREVIOUS_HEADER:
        previous = empty(bytes32)
    assert header.previousHeaderHash == previous, "previous"

    # Checked before ecrecover: the precompile itself accepts high s and returns
    # empty(address) only for v/r/s it cannot use at all.
    assert (v == 27 or v == 28) and convert(s, uint256) <= SECP256K1N_HALF, "signature"
    header_hash: bytes32 = self._hash_header(header)
    digest: bytes32 = keccak256(concat(x"1901", self._domain_separator(), header_hash))
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "signature"
    assert signer == expected_signer, "signer"

    e: uint64 = self.epoch
    self._batchCommitment[e][index] = keccak256(
        abi_encode(header.decisionsRoot, header.decisionCount)
    )
    # Both nonzero before and after: 2,900 gas each, batch 0 included (see Gas).
    self._lastHeaderHash = header_hash
    self._nextIndexPlusOne = index + 2
    log BatchSubmitted(
        epoch=e,
        batchIndex=index,
        headerHash=header_hash,
        signer=signer,
        decisionsRoot=header.decisionsRoot,
        decisionCount=header.decisionCount,
    )


# ---------------------------------------------------------------------- decisions

@external
def verifyDecision(
    epoch: uint64,
    batchIndex: uint64,
    decisionsRoot: bytes32,
    decisionCount: uint64,
    decision: LiquidationDecision,
    leafIndex: uint64,
    proof: DynArray[bytes32, MAX_PROOF],
):
    assert not self.frozen[epoch], "frozen"
    struct_hash: bytes32 = self._check_decision(
        epoch, batchIndex, decisionsRoot, decisionCount, decision, leafIndex, proof
    )
    assert not self.consumed[struct_hash], "consumed"
    self.consumed[struct_hash] = True
    log DecisionVerified(
        epoch=epoch,
        batchIndex=batchIndex,
        leafIndex=leafIndex,
        structHash=struct_hash,
        account=decision.account,
        market=decision.market,
    )


# ---------------------------------------------------------------- fraud proofs

@external
def challengeLiquidation(
    epoch: uint64,
    batchIndex: uint64,
    decisionsRoot: bytes32,
    decisionCount: uint64,
    decision: LiquidationDecision,
    leafIndex: uint64,
    proof: DynArray[bytes32, MAX_PROOF],
    salt: bytes32,
    state: Bytes[MAX_STATE],
    marks: DynArray[Mark, MAX_POSITIONS],
):
    """
    @notice Proves a liquidation decision wrong (docs/COMMITMENTS.md §6.1): the
            decision is in an accepted batch, `salt` and `state` open its stateHash,
            `salt` and `marks` its marksHash, and at those marks, with the epoch's
            registered maintenance fractions, the account was NOT below maintenance
            (equity >= maintenance). Then the epoch is frozen (it accepts no batch and
            verifies no decision), the proof is recorded and LiquidationDisproven is
            emitted. Otherwise it reverts with the first failing check's reason.
    """
    struct_hash: bytes32 = self._check_decision(
        epoch, batchIndex, decisionsRoot, decisionCount, decision, leafIndex, proof
    )
    assert self.disprovenBy[struct_hash] == empty(address), "proven"
    assert sha256(concat(b"sealstream/v1/decision-state", salt, state)) == decision.stateHash, "state"

    # The §2.2 layout: exactly 32 + 44 n bytes for n positions.
    assert len(state) >= STATE_FIXED, "layout"
    n: uint256 = convert(slice(state, 24, 4), uint256)
    assert n <= MAX_POSITIONS and len(state) == STATE_FIXED + n * POSITION_BYTES, "layout"
    assert len(marks) == n, "marks"
    # Each mark as three 32-byte words (market, mark sign-extended, bps): the ABI
    # encoding of the array without its length word.
    encoded: Bytes[6176] = abi_encode(marks, ensure_tuple=False)
    assert sha256(
        concat(b"sealstream/v1/decision-marks", salt, slice(encoded, 32, n * 96))
    ) == decision.marksHash, "marks"

    # equity = collateral + sum floor(size * mark / 1e8); maintenance = sum
    # ceil(|size| * mark * bps / 1e12) (docs/CONFIG.md), exact in int256.
    equity: int256 = convert(convert(convert(slice(state, 8, 16), bytes16), int128), int256)
    maintenance: int256 = 0
    for i: uint256 in range(MAX_POSITIONS):
        if i >= n:
            break
        offset: uint256 = 28 + i * POSITION_BYTES
        market: uint32 = convert(slice(state, offset, 4), uint32)
        size: int256 = convert(convert(convert(slice(state, offset + 4, 8), bytes8), int64), int256)
        assert marks[i].market == market, "marks"
        bps: uint32 = self.maintenanceBps[epoch][market]
        assert bps != 0, "tier"
        mark: int256 = convert(marks[i].mark, int256)
        equity += self._floor_div(size * mark, 10**8)
        maintenance += self._ceil_div(abs(size) * mark * convert(bps, int256), 10**12)
    assert equity >= maintenance, "below"

    self.disprovenBy[struct_hash] = msg.sender
    if not self.frozen[epoch]:
        self.frozen[epoch] = True
        if epoch == self.epoch and self.activeSigner != empty(address):
            self.activeSigner = empty(address)
            log EpochEnded(epoch=epoch, signer=self.epochSigner[epoch], batchCount=self._nextIndexPlusOne - 1)
    log LiquidationDisproven(
        epoch=epoch,
        batchIndex=batchIndex,
        structHash=struct_hash,
        leafIndex=leafIndex,
        account=decision.account,
        market=decision.market,
        equity=equity,
        maintenance=maintenance,
        challenger=msg.sender,
    )


# -------------------------------------------------------------------------- views

@external
@view
def nextBatchIndex() -> uint64:
    """@notice The index the current epoch's next batch must carry (0 before any epoch)."""
    n: uint64 = self._nextIndexPlusOne
    if n == 0:
        return 0
    return n - 1


@external
@view
def lastHeaderHash() -> bytes32:
    """@notice The current epoch's last accepted header hash; 0 while it has none."""
    h: bytes32 = self._lastHeaderHash
    if h == NO_PREVIOUS_HEADER:
        return empty(bytes32)
    return h


@external
@view
def batchCommitment(epoch: uint64, index: uint64) -> bytes32:
    """@notice keccak256(abi_encode(decisionsRoot, decisionCount)) of an accepted
            batch; 0 for a batch not (yet) accepted."""
    return self._batchCommitment[epoch][index]


@external
@view
def domainSeparator() -> bytes32:
    return self._domain_separator()


@external
@pure
def hashHeader(header: BatchHeader) -> bytes32:
    return self._hash_header(header)


@external
@pure
def hashDecision(decision: LiquidationDecision) -> bytes32:
    return self._hash_decision(decision)


# ----------------------------------------------------------------------- internals

@internal
@view
def _build_domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@internal
@view
def _domain_separator() -> bytes32:
    if chain.id == CACHED_CHAIN_ID and self == CACHED_SELF:
        return CACHED_DOMAIN_SEPARATOR
    return self._build_domain_separator()


@internal
@pure
def _hash_header(h: BatchHeader) -> bytes32:
    # EIP-712 encodes an array as the hash of its elements' 32-byte encodings with no
    # offset or length word: drop the length word that abi_encode puts first.
    halted: Bytes[8224] = abi_encode(h.haltedMarkets, ensure_tuple=False)
    halted_hash: bytes32 = keccak256(slice(halted, 32, len(h.haltedMarkets) * 32))
    return keccak256(
        abi_encode(
            HEADER_TYPEHASH,
            h.venueId,
            h.batchIndex,
            h.previousHeaderHash,
            h.firstSequence,
            h.lastSequence,
            h.enclaveTime,
            h.eventsRoot,
            h.stateRoot,
            h.accountCount,
            h.decisionsRoot,
            h.decisionCount,
            h.marketDataRoot,
            halted_hash,
        )
    )


@internal
@pure
def _hash_decision(d: LiquidationDecision) -> bytes32:
    # abi_encode sign-extends int64 to 256 bits and writes bool as 0/1, which is
    # exactly EIP-712's encodeData for these atomic types.
    return keccak256(
        abi_encode(
            DECISION_TYPEHASH,
            d.venueId,
            d.sequence,
            d.enclaveTime,
            d.account,
            d.market,
            d.isBuy,
            d.size,
            d.markPrice,
            d.bankruptcyPrice,
            d.worstPrice,
            d.equity,
            d.maintenanceRequirement,
            d.reason,
            d.filledOnBook,
            d.toInsuranceFund,
            d.autoDeleveraged,
            d.liquidationFee,
            d.fillsHash,
            d.stateHash,
            d.marksHash,
            d.scenarioHash,
        )
    )


@internal
@view
def _check_decision(
    epoch: uint64,
    batchIndex: uint64,
    decisionsRoot: bytes32,
    decisionCount: uint64,
    decision: LiquidationDecision,
    leafIndex: uint64,
    proof: DynArray[bytes32, MAX_PROOF],
) -> bytes32:
    # The decision is leaf leafIndex of an accepted batch's decisionsRoot; its struct hash.
    assert self._batchCommitment[epoch][batchIndex] == keccak256(
        abi_encode(decisionsRoot, decisionCount)
    ), "batch"
    assert decision.venueId == venueId, "venue"
    struct_hash: bytes32 = self._hash_decision(decision)
    leaf: bytes32 = sha256(concat(x"00", struct_hash))
    assert self._verify_inclusion(leaf, leafIndex, decisionCount, proof, decisionsRoot), "proof"
    return struct_hash


@internal
@pure
def _floor_div(x: int256, d: int256) -> int256:
    # Toward minus infinity (Vyper's // truncates toward zero); d > 0.
    q: int256 = x // d
    if x % d != 0 and x < 0:
        q -= 1
    return q


@internal
@pure
def _ceil_div(x: int256, d: int256) -> int256:
    # Toward plus infinity; d > 0.
    q: int256 = x // d
    if x % d != 0 and x > 0:
        q += 1
    return q


@internal
@pure
def _verify_inclusion(
    leaf: bytes32,
    index: uint64,
    size: uint64,
    proof: DynArray[bytes32, MAX_PROOF],
    root: bytes32,
) -> bool:
    # RFC 9162 §2.1.3.2, step by step; fn/sn are the leaf's and the last leaf's
    # positions at the current level of the tree.
    if index >= size:
        return False
    fn: uint256 = convert(index, uint256)
    sn: uint256 = convert(size, uint256) - 1
    r: bytes32 = leaf
    for p: bytes32 in proof:
        if sn == 0:
            return False
        if fn & 1 == 1 or fn == sn:
            r = sha256(concat(x"01", p, r))
            # A right-edge node with no sibling is promoted unchanged: skip the
            # levels where fn is a left child without a right neighbour.
            for _i: uint256 in range(MAX_PROOF):
                if fn & 1 == 1 or fn == 0:
                    break
                fn = fn >> 1
                sn = sn >> 1
        else:
            r = sha256(concat(x"01", r, p))
        fn = fn >> 1
        sn = sn >> 1
    return sn == 0 and r == root
