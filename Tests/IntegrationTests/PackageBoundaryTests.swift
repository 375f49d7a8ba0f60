import Testing

/// Which module may link which: the trader SDK speaks the wire, and the auditor CLI
/// links neither the venue tools nor the engine.
@Suite("Package boundaries")
struct PackageBoundaryTests {
    /// The trader SDK needs the wire format, crypto, evidence verification and inclusion
    /// proofs; not the engine, the load generator or any external package.
    @Test func clientSDKSpeaksTheWire() throws {
        let closure = try PackageGraph().closure(of: "Client")
        #expect(closure.products.isEmpty, "external products in the SDK: \(closure.products)")
        #expect(closure.targets.isSuperset(of: ["Client", "Wire", "SealCrypto", "Attestation", "Commitments"]))
        for excluded in ["Engine", "VenueTools", "CClientSys", "EnclaveCore", "Host"] {
            #expect(!closure.targets.contains(excluded), "the SDK links \(excluded)")
        }
    }

    /// The auditor CLI fetches evidence and outputs through the SDK; it does not link the
    /// load generator, its histogram package or the engine.
    @Test func auditorCLIDoesNotLinkTheTools() throws {
        let closure = try PackageGraph().closure(of: "attestation")
        #expect(closure.products == ["ArgumentParser"])
        for excluded in ["VenueTools", "CClientSys", "Engine", "EnclaveCore", "Host"] {
            #expect(!closure.targets.contains(excluded), "the auditor CLI links \(excluded)")
        }
    }

    /// The tools are where the load generator and the engine replay live.
    @Test func clientExecutableCarriesTheTools() throws {
        let closure = try PackageGraph().closure(of: "sealstream-client")
        #expect(closure.targets.isSuperset(of: ["Client", "VenueTools", "Engine", "CClientSys"]))
        #expect(closure.products == ["ArgumentParser", "Histogram"])
    }
}
