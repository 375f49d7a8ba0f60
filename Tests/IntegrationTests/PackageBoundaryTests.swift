import Testing

/// Which module may link which: the trader SDK speaks the wire, and the auditor CLI
/// does not link the venue tools. Both link the pure `Engine` module since issue 14:
/// `OutputVerification` (which the SDK uses for inclusion proofs and the market data
/// feed) reads the venue config strictly and replays the marks with it (COMMITMENTS §5.3).
@Suite("Package boundaries")
struct PackageBoundaryTests {
    /// The trader SDK needs the wire format, crypto, evidence verification and inclusion
    /// proofs; not the enclave, the host, the load generator or any external package.
    @Test func clientSDKSpeaksTheWire() throws {
        let closure = try PackageGraph().closure(of: "Client")
        #expect(closure.products.isEmpty, "external products in the SDK: \(closure.products)")
        #expect(closure.targets.isSuperset(of: ["Client", "Wire", "SealCrypto", "Attestation", "Commitments"]))
        for excluded in ["VenueTools", "CClientSys", "EnclaveCore", "Host"] {
            #expect(!closure.targets.contains(excluded), "the SDK links \(excluded)")
        }
    }

    /// The auditor CLI fetches evidence and outputs through the SDK; it does not link the
    /// load generator, its histogram package, the enclave or the host.
    @Test func auditorCLIDoesNotLinkTheTools() throws {
        let closure = try PackageGraph().closure(of: "attestation")
        #expect(closure.products == ["ArgumentParser"])
        for excluded in ["VenueTools", "CClientSys", "EnclaveCore", "Host"] {
            #expect(!closure.targets.contains(excluded), "the auditor CLI links \(excluded)")
        }
    }

    /// The tools are where the load generator and the engine replay live.
    @Test func clientExecutableCarriesTheTools() throws {
        let closure = try PackageGraph().closure(of: "sealstream-client")
        #expect(closure.targets.isSuperset(of: ["Client", "VenueTools", "Engine", "CClientSys"]))
        #expect(closure.products == ["ArgumentParser", "Histogram"])
    }

    /// TLS (libssl, `COpenSSLTLS`) is the client's, for the feed over `wss:` (MARKETDATA
    /// §6 item 3); the enclave worker and the host link none (a proxy terminates TLS).
    @Test func onlyTheClientSideLinksTLS() throws {
        let graph = try PackageGraph()
        #expect(try graph.closure(of: "sealstream-client").targets.contains("COpenSSLTLS"))
        for excluded in ["sealstream-enclave", "sealstream-host"] {
            #expect(try !graph.closure(of: excluded).targets.contains("COpenSSLTLS"), "\(excluded) links libssl")
        }
    }
}
