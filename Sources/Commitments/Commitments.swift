/// Public, verifiable outputs of the enclave: RFC 6962 Merkle trees, EIP-712 typed-data
/// hashing and the batch header and decision records. See `docs/COMMITMENTS.md`.
public enum Commitments {}
