import Attestation
import Commitments
import Engine
import SealCrypto
import Wire

/// Where quotes come from in the TPM modes (`swtpm`, `tpm`): the worker executable
/// implements it over the TPM; `software` mode signs a stand-in instead.
public protocol QuoteSource: Sendable {
    /// PCRs to quote (SHA-256 bank), ascending: the measurement PCR, and in `tpm` mode
    /// the boot PCRs 0–7 too (and 9, 11, 12 with a firmware event log, docs/IMAGE.md §7).
    var pcrs: [Int] { get }
    /// A quote over `qualifying` (32 bytes) with the PCR values it covers, the AK's
    /// public area and the EK certificate.
    func quote(qualifying: [UInt8]) throws -> TPMAttestation
    /// TPM2_ActivateCredential with the AK and the certified RSA EK: returns the
    /// credential a verifier made for this AK's Name (docs/ATTESTATION.md §8).
    func activateCredential(credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws -> [UInt8]
    /// The firmware's TCG event log, when the worker booted in the measured appliance
    /// image (docs/IMAGE.md §6): carried in the evidence as `bootEventLog`. Nil otherwise.
    var bootEventLog: [UInt8]? { get }
}

extension QuoteSource {
    public var bootEventLog: [UInt8]? { nil }
}

/// Who this enclave process is: its keys (generated at start, never written out), its
/// measurement, configuration, mode and isolation facts.
public struct EnclaveIdentity: Sendable {
    /// X25519 key for order-flow sessions; lives only in this process.
    public let sessionKey: KXKeyPair
    /// secp256k1 key that signs batch headers (EIP-712); lives only in this process.
    /// Its address is in the evidence.
    public let signer: Secp256k1PrivateKey
    /// `software` mode's stand-in attestation key: an ephemeral P-256 key that signs
    /// TPM-format quotes (docs/ATTESTATION.md §3). It proves nothing about hardware; the
    /// evidence says `software`, and verifiers refuse it without `--allow-simulated`.
    let softwareAK: P256SigningKey
    /// The TPM in `swtpm` and `tpm` modes; nil in `software` mode.
    public let quoteSource: (any QuoteSource)?
    /// The PCR the measured start is extended into (docs/ATTESTATION.md §2): 23 by
    /// default, or 16; both are resettable from locality 0, which the worker needs to
    /// start its event log from a known value.
    public let measurementPCR: Int
    public static let defaultMeasurementPCR = 23
    public static let allowedMeasurementPCRs: Set<Int> = [16, 23]
    /// Random id of this process lifetime.
    public let instanceID: UInt64
    /// SHA-256 of the enclave executable.
    public let measurement: [UInt8]
    /// SHA-256 of the venue configuration file bytes.
    public let configHash: [UInt8]
    /// Every other file mapped executable at start (docs/ATTESTATION.md §2).
    public let loadedObjects: [LoadedObject]
    /// Called before every evidence is produced: throws when the process maps code it
    /// did not map at start (a late `dlopen`), so no evidence vouches for unmeasured code.
    let imageCheck: @Sendable () throws -> Void
    public let config: VenueConfig
    public let mode: AttestationMode
    public let isolation: IsolationClass
    public let isolationReport: IsolationReport
    /// Secret key of account commitments: public outputs name an account only as
    /// SHA-256("sealstream/v1/account" ‖ key ‖ account id). Derived from the storage
    /// key, so an account keeps its commitment across worker restarts; random per
    /// instance when there is no storage key.
    let commitmentKey: SecretBytes
    /// How the storage key is kept (`sealed-pcr-23`, `file-0600`), or nil without one.
    public let storageKeyProtection: String?
    /// The storage key itself: only key enrollment reads it, to wrap it for a standby
    /// enclave (docs/REPLICATION.md §11).
    let storageKey: SecretBytes?

    public init(
        sessionKey: KXKeyPair, signer: Secp256k1PrivateKey, instanceID: UInt64, measurement: [UInt8], configHash: [UInt8], config: VenueConfig,
        mode: AttestationMode, isolation: IsolationClass, isolationReport: IsolationReport,
        quoteSource: (any QuoteSource)? = nil, storageKey: SecretBytes? = nil, storageKeyProtection: String? = nil,
        measurementPCR: Int = EnclaveIdentity.defaultMeasurementPCR,
        loadedObjects: [LoadedObject] = [], imageCheck: @escaping @Sendable () throws -> Void = {}
    ) {
        self.loadedObjects = LoadedObjects.sorted(loadedObjects)
        self.imageCheck = imageCheck
        precondition(Self.allowedMeasurementPCRs.contains(measurementPCR), "measurement PCR must be 16 or 23")
        self.measurementPCR = measurementPCR
        self.quoteSource = quoteSource
        self.storageKeyProtection = storageKey == nil ? nil : storageKeyProtection
        self.storageKey = storageKey
        self.sessionKey = sessionKey
        self.signer = signer
        softwareAK = try! P256SigningKey()
        self.instanceID = instanceID
        self.measurement = measurement
        self.configHash = configHash
        self.config = config
        self.mode = mode
        self.isolation = isolation
        self.isolationReport = isolationReport
        if let storageKey {
            commitmentKey = SecretBytes(count: 32) { out in
                var h = SHA256()
                h.update(Array("sealstream/v1/commitment-key".utf8))
                storageKey.withUnsafeBytes { h.update($0) }
                h.finalize(into: out)
            }
        } else {
            var key = Sodium.randomBytes(32)
            commitmentKey = SecretBytes(consuming: &key)
        }
    }

    /// The public commitment of an account (see `commitmentKey`).
    public func accountCommitment(_ account: UInt64) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(tag: "sealstream/v1/account")
        commitmentKey.withUnsafeBytes { hasher.update($0) }
        withUnsafeBytes(of: account.bigEndian) { hasher.update($0) }
        return hasher.finalize()
    }

    /// Salt of an account's state leaf (docs/COMMITMENTS.md §2.2): secret, and new with
    /// every change of the account's state.
    public func stateSalt(account: UInt64, version: UInt64) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(tag: "sealstream/v1/state-salt")
        commitmentKey.withUnsafeBytes { hasher.update($0) }
        withUnsafeBytes(of: account.bigEndian) { hasher.update($0) }
        withUnsafeBytes(of: version.bigEndian) { hasher.update($0) }
        return hasher.finalize()
    }

    /// Salt of a liquidation decision's commitments (docs/COMMITMENTS.md §3): secret, the
    /// owner gets it in its statement; a replay of the journal derives the same.
    public func decisionSalt(account: UInt64, sequence: UInt64, step: UInt32) -> [UInt8] {
        commitmentKey.withUnsafeBytes { DecisionCommitment.salt(key: $0, account: account, sequence: sequence, step: step) }
    }

    /// The application event log of the measured start (docs/ATTESTATION.md §2).
    public var eventLog: [EventLogEntry] {
        EventLogEntry.measuredStart(
            measurement: measurement, configHash: configHash, loadedObjects: LoadedObjects.digest(loadedObjects),
            pcr: measurementPCR)
    }

    /// Evidence answering `nonce` (at most 64 bytes): the report preimage binding the
    /// nonce, mode, keys, measurement and configuration, and a quote over its SHA-256 with
    /// the PCR the event log replays to: from the TPM in `swtpm` and `tpm` modes, a
    /// stand-in signed by `softwareAK` in `software` mode.
    public func evidence(nonce: [UInt8], enclaveTime: UInt64) throws -> Evidence {
        try imageCheck()
        var id = ByteWriter(capacity: 8)
        id.write(instanceID)
        let preimage = try ReportPreimage.build(
            mode: mode, nonce: nonce, enclaveKey: sessionKey.publicKey.bytes, signer: signer.address.bytes,
            measurement: measurement, configHash: configHash)
        let attestation: TPMAttestation
        if let quoteSource {
            attestation = try quoteSource.quote(qualifying: SHA256.hash(preimage))
        } else {
            let pcrValue = EventLogEntry.replay(eventLog.map { Hex.decode($0.digest) ?? [] })
            // The stand-in clock counts milliseconds of wall time, so it never runs
            // backwards across worker restarts; resetCount and restartCount stay 0.
            let clock = TPMSClockInfo(clock: enclaveTime / 1_000_000, resetCount: 0, restartCount: 0, safe: true)
            let quote = try SoftwareQuote.make(
                qualifying: SHA256.hash(preimage), pcrs: [UInt32(measurementPCR): pcrValue], key: softwareAK,
                clockInfo: clock)
            attestation = TPMAttestation(
                akPublic: Hex.encode(quote.akPublic), quote: Hex.encode(quote.attest), signature: Hex.encode(quote.signature),
                pcrs: [measurementPCR], pcrValues: [String(measurementPCR): Hex.encode(pcrValue)])
        }
        return Evidence(
            mode: mode, isolation: isolation, instanceID: Hex.encode(id.bytes),
            enclaveKey: Hex.encode(sessionKey.publicKey.bytes), signer: signer.address.hex,
            chainId: config.commitments.chainId, verifyingContract: config.commitments.verifyingContract.lowercased(),
            measurement: Hex.encode(measurement), configHash: Hex.encode(configHash), venueID: config.venueID,
            nonce: Hex.encode(nonce), enclaveTime: enclaveTime, isolationReport: isolationReport,
            attestation: attestation, eventLog: eventLog, reportPreimage: Hex.encode(preimage),
            storageKey: storageKeyProtection, loadedObjects: loadedObjects, bootEventLog: quoteSource?.bootEventLog)
    }
}

extension SHA256 {
    /// Absorbs a domain tag from its static bytes (no array per hash: the salts and
    /// commitments are derived per changed account and per decision).
    fileprivate mutating func update(tag: StaticString) {
        update(UnsafeRawBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount))
    }
}
