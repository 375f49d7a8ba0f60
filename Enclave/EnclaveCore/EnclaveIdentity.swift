import Attestation
import Engine
import SealCrypto
import Wire

/// Who this enclave process is: its keys (generated at start, never written out), its
/// measurement, configuration, mode and isolation facts.
public struct EnclaveIdentity: Sendable {
    /// X25519 key for order-flow sessions; lives only in this process.
    public let sessionKey: KXKeyPair
    /// secp256k1 key that signs batch headers (EIP-712); lives only in this process.
    /// Its address is in the evidence.
    public let signer: Secp256k1PrivateKey
    /// Random id of this process lifetime.
    public let instanceID: UInt64
    /// SHA-256 of the enclave executable.
    public let measurement: [UInt8]
    /// SHA-256 of the venue configuration file bytes.
    public let configHash: [UInt8]
    public let config: VenueConfig
    public let mode: AttestationMode
    public let isolation: IsolationClass
    public let isolationReport: IsolationReport
    /// Secret key of account commitments: public outputs name an account only as
    /// SHA-256("sealstream/v1/account" ‖ key ‖ account id). Random per worker instance
    /// until sealed storage (attestation work) keeps it across restarts.
    let commitmentKey: SecretBytes

    public init(
        sessionKey: KXKeyPair, signer: Secp256k1PrivateKey, instanceID: UInt64, measurement: [UInt8], configHash: [UInt8], config: VenueConfig,
        mode: AttestationMode, isolation: IsolationClass, isolationReport: IsolationReport
    ) {
        self.sessionKey = sessionKey
        self.signer = signer
        self.instanceID = instanceID
        self.measurement = measurement
        self.configHash = configHash
        self.config = config
        self.mode = mode
        self.isolation = isolation
        self.isolationReport = isolationReport
        var key = Sodium.randomBytes(32)
        commitmentKey = SecretBytes(consuming: &key)
    }

    /// The public commitment of an account (see `commitmentKey`).
    public func accountCommitment(_ account: UInt64) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(Array("sealstream/v1/account".utf8))
        commitmentKey.withUnsafeBytes { hasher.update($0) }
        withUnsafeBytes(of: account.bigEndian) { hasher.update($0) }
        return hasher.finalize()
    }

    /// Salt of an account's state leaf (docs/COMMITMENTS.md §2.2): secret, and new with
    /// every change of the account's state.
    public func stateSalt(account: UInt64, version: UInt64) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(Array("sealstream/v1/state-salt".utf8))
        commitmentKey.withUnsafeBytes { hasher.update($0) }
        withUnsafeBytes(of: account.bigEndian) { hasher.update($0) }
        withUnsafeBytes(of: version.bigEndian) { hasher.update($0) }
        return hasher.finalize()
    }

    /// Evidence answering `nonce`. In this release it carries no TPM quote.
    public func evidence(nonce: [UInt8], enclaveTime: UInt64) -> Evidence {
        var id = ByteWriter(capacity: 8)
        id.write(instanceID)
        return Evidence(
            mode: mode, isolation: isolation, instanceID: Hex.encode(id.bytes),
            enclaveKey: Hex.encode(sessionKey.publicKey.bytes), signer: signer.address.hex,
            chainId: config.commitments.chainId, verifyingContract: config.commitments.verifyingContract.lowercased(), measurement: Hex.encode(measurement),
            configHash: Hex.encode(configHash), venueID: config.venueID, nonce: Hex.encode(nonce),
            enclaveTime: enclaveTime, isolationReport: isolationReport)
    }
}
