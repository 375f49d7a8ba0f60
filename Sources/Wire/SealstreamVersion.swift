/// The release every Sealstream executable reports with `--version` (sealstream-host,
/// sealstream-enclave, sealstream-client, attestation). The one place it is written:
/// Wire is the module all four link. Not a wire-format version (see `Frame`).
public enum SealstreamVersion {
    public static let string = "0.1.0"
}
