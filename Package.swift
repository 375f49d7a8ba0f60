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
        .library(name: "SealstreamCommitments", targets: ["Commitments", "SealCrypto", "EnclaveCore"]),
        // For the nested Fuzz/ package: every module that parses bytes from outside.
        .library(name: "SealstreamParsers", targets: ["Wire", "Engine", "Attestation", "Client", "Commitments", "SealCrypto", "Host"]),
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
        .systemLibrary(
            name: "CSecp256k1",
            path: "Sources/CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),

        // Pure and wrapper modules.
        .target(name: "SealCrypto", dependencies: ["CSodium", "CSecp256k1", "COpenSSL"]),
        // Public, verifiable outputs: RFC 6962 trees, EIP-712, batch headers. Pure.
        .target(name: "Commitments", dependencies: ["SealCrypto"]),
        .target(name: "Wire"),
        .target(name: "Engine", dependencies: ["Wire"]),
        .target(name: "Attestation", dependencies: ["SealCrypto"]),

        // Enclave: library (worker state machine) and the measured executable.
        .target(
            name: "EnclaveCore",
            dependencies: ["SealCrypto", "Wire", "Engine", "Attestation", "Commitments"],
            path: "Enclave/EnclaveCore"
        ),
        .target(name: "CEnclaveSys", path: "Enclave/CEnclaveSys"),
        // The TPM (tpm2-tss: esys, mu, rc, tctildr), reached only through this C target.
        .target(
            name: "CTPM",
            path: "Enclave/CTPM",
            linkerSettings: [
                .linkedLibrary("tss2-esys"), .linkedLibrary("tss2-mu"),
                .linkedLibrary("tss2-rc"), .linkedLibrary("tss2-tctildr"),
            ]
        ),
        .executableTarget(
            name: "sealstream-enclave",
            dependencies: ["EnclaveCore", "Commitments", "CEnclaveSys", "CTPM"],
            path: "Enclave/sealstream-enclave"
        ),

        // Untrusted host.
        .target(
            name: "Host",
            dependencies: [
                "Wire",
                "Commitments",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "sealstream-host",
            dependencies: [
                "Host",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Trader / oracle SDK and its command line.
        .target(name: "CClientSys"),
        .target(
            name: "Client",
            dependencies: [
                "SealCrypto", "Wire", "Engine", "Attestation", "Commitments", "CClientSys",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "sealstream-client",
            dependencies: [
                "Client",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Auditor CLI.
        .executableTarget(
            name: "attestation",
            dependencies: [
                "Attestation",
                "Client",
                "Commitments",
                "SealCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "attestation"
        ),

        // Tests.
        .testTarget(name: "SealCryptoTests", dependencies: ["SealCrypto"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "CommitmentsTests", dependencies: ["Commitments", "SealCrypto"]),
        .testTarget(name: "TPMTests", dependencies: ["CTPM"]),
        .testTarget(name: "AttestationTests", dependencies: ["Attestation", "SealCrypto"], exclude: ["Fixtures"]),
        .testTarget(name: "EnclaveCoreTests", dependencies: ["EnclaveCore", "Client", "SealCrypto", "Wire", "Engine", "Commitments"]),
        .testTarget(name: "ClientTests", dependencies: ["Client", "Wire"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Wire"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Client", "Wire", "SealCrypto", "Attestation", "Engine", "Commitments"]),
    ]
)
