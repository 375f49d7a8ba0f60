// swift-tools-version:6.1
import PackageDescription

/// Modules that make up the enclave's trusted computing base. `sealstream-enclave` may
/// depend on these and nothing with networking in it; `Tests/IntegrationTests` checks
/// the resolved dependency closure.
let package = Package(
    name: "Sealstream",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sealstream-host", targets: ["sealstream-host"]),
        .executable(name: "sealstream-enclave", targets: ["sealstream-enclave"]),
        .executable(name: "sealstream-client", targets: ["sealstream-client"]),
        .executable(name: "attestation", targets: ["attestation"]),
        // For the nested Benchmarks/ package.
        .library(name: "SealstreamEngine", targets: ["Engine", "Wire"]),
        // The options math alone (Benchmarks/OptionsBench).
        .library(name: "SealstreamOptions", targets: ["Options"]),
        .library(name: "SealstreamCommitments", targets: ["Commitments", "SealCrypto", "EnclaveCore"]),
        // The in-process worker benchmark (Benchmarks/DurabilityBench): a journaling worker
        // fed sealed orders as the host feeds it.
        .library(name: "SealstreamWorker", targets: ["EnclaveCore", "Journal", "Client", "VenueTools", "SealCrypto", "Wire", "Engine", "Attestation", "CEnclaveSys"]),
        // For the nested Fuzz/ package: every module that parses bytes from outside.
        .library(
            name: "SealstreamParsers",
            targets: [
                "Wire", "Engine", "Attestation", "AttestationVerifier", "Client", "VenueTools", "Commitments",
                "OutputVerification", "SealCrypto", "Host", "Journal",
            ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // C libraries: module maps only, one Swift importer each.
        .systemLibrary(
            name: "CSodium",
            path: "Sources/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            path: "Sources/COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // libssl, imported only by Client (TLSStream: the market data feed over wss:). Apart
        // from COpenSSL so that the enclave worker, which links libcrypto, links no TLS.
        .systemLibrary(
            name: "COpenSSLTLS",
            path: "Sources/COpenSSLTLS",
            pkgConfig: "libssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSecp256k1",
            path: "Sources/CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        // The NATS client (JetStream), imported only by Host for the replicated journal.
        .systemLibrary(
            name: "CNATS",
            path: "Sources/CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),

        // Pure and wrapper modules.
        .target(name: "SealCrypto", dependencies: ["Wire", "CSodium", "CSecp256k1", "COpenSSL", "CKeccak"]),
        // Keccak-256 of many messages of one length side by side (AVX2: 4, AVX-512F: 8 to a
        // permutation), for a batch's decision struct hashes; SealCrypto is its one importer and
        // hashes single messages itself.
        .target(name: "CKeccak", dependencies: ["CVectorWidth"]),
        // The widest vector registers the CPU has and the OS saves (CPUID and XCR0): what
        // CKeccak and CSHA256Lanes choose their widths by.
        .target(name: "CVectorWidth"),
        // RFC 6962 node hashes of many pairs side by side (AVX2: 8, AVX-512F: 16 SHA-256 in
        // one vector's 32-bit elements), for a tree level's independent nodes; Commitments is
        // its one importer and hashes single nodes through OpenSSL (SHA-NI).
        .target(name: "CSHA256Lanes", dependencies: ["CVectorWidth"]),
        // Public, verifiable outputs: RFC 6962 trees, EIP-712, batch headers. Pure.
        .target(name: "Commitments", dependencies: ["SealCrypto", "Wire", "CSHA256Lanes"]),
        // The verifier's half (strict record readers, OutputVerifier): not in the enclave.
        .target(name: "OutputVerification", dependencies: ["Commitments", "StrictJSON", "SealCrypto", "Engine", "Options", "Wire"]),
        // Strict JSON reading (duplicate keys, canonical integers) for untrusted records and the
        // venue config (through Engine, so the enclave links it too). No dependencies.
        .target(name: "StrictJSON"),
        .target(name: "Wire"),
        // The sealed journal's records (docs/DURABILITY.md): frame and CRC for the host,
        // sealing, chain and payloads for the enclave. Pure.
        .target(name: "Journal", dependencies: ["SealCrypto", "Wire", "CCRC32C"]),
        // CRC-32C of journal records with SSE4.2's crc32 instruction (Journal falls back to
        // its tables on a CPU without it).
        .target(name: "CCRC32C"),
        .target(name: "Engine", dependencies: ["Wire", "StrictJSON", "Options"]),
        // Options math (docs/OPTIONS.md): Q64 fixed point, exp/ln/√/Φ, Black-76, SVI, EWMA
        // realized volatility, scenario portfolio margin. Pure and deterministic; no
        // dependencies. The engine reads option markets' configuration with it.
        .target(name: "Options"),
        // The evidence format (what the enclave produces).
        .target(name: "Attestation", dependencies: ["SealCrypto", "StrictJSON", "Wire"]),
        // The verifier's half: X.509 chains, RSA-OAEP, the TPM KDF and PEM (AuditCrypto,
        // libcrypto's second importer); policies, quote verification and MakeCredential
        // (AttestationVerifier). The enclave links both since key enrollment, where a
        // primary worker runs the auditor's checks on a standby's evidence.
        .target(name: "AuditCrypto", dependencies: ["SealCrypto", "COpenSSL"]),
        .target(name: "AttestationVerifier", dependencies: ["Attestation", "AuditCrypto", "SealCrypto", "Wire"]),
        // Key enrollment (docs/REPLICATION.md §11): the primary enclave checks a standby's
        // evidence with the auditor's verifier and wraps its storage key to it. Linked by
        // the enclave, which therefore runs AttestationVerifier and AuditCrypto too.
        .target(name: "KeyEnrollment", dependencies: ["Attestation", "AttestationVerifier", "AuditCrypto", "SealCrypto", "Wire"]),

        // Enclave: library (worker state machine) and the measured executable.
        .target(
            name: "EnclaveCore",
            dependencies: ["SealCrypto", "Wire", "Engine", "Attestation", "Commitments", "Journal", "KeyEnrollment", "CPrefetch", "CEnclaveSys"],
            path: "Enclave/EnclaveCore",
            // The sequencer is one thread in methods of one class (`Worker`) that mutate its
            // stored state in place; in release, the dynamic exclusivity check of each such
            // access (swift_beginAccess/endAccess and a thread-local access set) was ~9% of the
            // sequencer's CPU per order (issue 17, README "Request lanes"). The compile-time
            // checks stay, and debug builds, which every test runs, keep the dynamic one.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .target(name: "CEnclaveSys", path: "Enclave/CEnclaveSys"),
        // A cache prefetch hint (`__builtin_prefetch`), which Swift does not expose:
        // EnclaveCore's dedupe memory only (issue 17).
        .target(name: "CPrefetch", path: "Enclave/CPrefetch"),
        // The TPM (tpm2-tss: esys, mu, rc, tctildr), reached only through this C target.
        .target(
            name: "CTPM",
            path: "Enclave/CTPM",
            linkerSettings: [
                .linkedLibrary("tss2-esys"), .linkedLibrary("tss2-mu"),
                .linkedLibrary("tss2-rc"), .linkedLibrary("tss2-tcti-swtpm"),
                .linkedLibrary("tss2-tcti-device"),
            ]
        ),
        .executableTarget(
            name: "sealstream-enclave",
            dependencies: ["EnclaveCore", "KeyEnrollment", "Commitments", "CEnclaveSys", "CTPM"],
            path: "Enclave/sealstream-enclave"
        ),
        // TEST ONLY, never measured or shipped: the enclave's sources (symlinks) built with a
        // flag that liquidates at a maintenance one bps below initial (TestBuild.swift), for
        // the fraud-proof tests (docs/COMMITMENTS.md §6.1).
        .executableTarget(
            name: "sealstream-enclave-broken-maintenance",
            dependencies: ["EnclaveCore", "KeyEnrollment", "Commitments", "CEnclaveSys", "CTPM"],
            path: "Enclave/sealstream-enclave-broken",
            swiftSettings: [.define("SEALSTREAM_TEST_BROKEN_MAINTENANCE")]
        ),

        // Untrusted host.
        .target(
            name: "Host",
            dependencies: [
                "Wire",
                "Commitments",
                "Journal",
                "SealCrypto",
                "StrictJSON",
                "CNATS",
                "CHostSys",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "sealstream-host",
            dependencies: [
                "Host",
                "Engine",
                "Wire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Trader / oracle SDK: speaks the wire, verifies evidence and inclusion proofs.
        .target(
            name: "Client",
            dependencies: [
                "SealCrypto", "Wire", "Attestation", "AttestationVerifier", "Commitments", "OutputVerification", "StrictJSON",
                "COpenSSLTLS",
            ]),
        // Venue tools on top of the SDK: demo keys and venue, scenarios, load generator,
        // transport floor, crypto baseline, liquidation drill, engine replay.
        .target(name: "CClientSys"),
        .target(name: "CHostSys"),
        .target(
            name: "VenueTools",
            dependencies: [
                "Client", "SealCrypto", "Wire", "Engine", "Attestation", "Commitments", "CClientSys", "Options",
                "OutputVerification", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "sealstream-client",
            dependencies: [
                "Client",
                "VenueTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Auditor CLI.
        .executableTarget(
            name: "attestation",
            dependencies: [
                "Attestation",
                "AttestationVerifier",
                "AuditCrypto",
                "Client",
                "Commitments",
                "Engine",
                "OutputVerification",
                "SealCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "attestation"
        ),

        // The engine alone on a realistic order stream, for callgrind's instruction
        // counts (scripts/bench-instructions.sh). Links only Engine and Wire.
        .executableTarget(name: "engine-instructions", dependencies: ["Engine", "Wire"]),

        // Tests. TestSupport holds the helpers they share (seeded RNG, hex test vectors,
        // tools and scratch directories, a test CA); it depends on no project module, so
        // it never decodes a known answer with the code under test.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SealCryptoTests", dependencies: ["SealCrypto", "AuditCrypto", "TestSupport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "TestSupport"]),
        .testTarget(name: "JournalTests", dependencies: ["Journal", "SealCrypto", "Wire"]),
        .testTarget(
            name: "CommitmentsTests",
            dependencies: ["Commitments", "Engine", "OutputVerification", "SealCrypto", "StrictJSON", "TestSupport"]),
        .testTarget(name: "TPMTests", dependencies: ["CTPM", "TestSupport"]),
        .testTarget(
            name: "AttestationTests",
            dependencies: ["Attestation", "AttestationVerifier", "AuditCrypto", "SealCrypto", "TestSupport", "KeyEnrollment", "Wire"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "EnclaveCoreTests",
            dependencies: [
                "EnclaveCore", "Client", "VenueTools", "SealCrypto", "Wire", "Engine", "Commitments", "OutputVerification",
                "Journal", "CEnclaveSys", "TestSupport", "KeyEnrollment", "Attestation",
            ]),
        .testTarget(name: "ClientTests", dependencies: ["Client", "Wire"]),
        .testTarget(name: "VenueToolsTests", dependencies: ["VenueTools", "Wire"]),
        .testTarget(
            name: "OptionsTests", dependencies: ["Options", "Engine", "TestSupport"], resources: [.copy("Resources")]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Wire", "StrictJSON", "Options", "TestSupport"]),
        .testTarget(
            name: "HostTests",
            dependencies: [
                "Host", "Commitments", "Journal", "StrictJSON", "Wire", "TestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Client", "VenueTools", "Wire", "SealCrypto", "Attestation", "AttestationVerifier", "Engine", "Commitments",
                "OutputVerification", "TestSupport", "Host", "Journal",
            ]),
    ]
)
