// swift-tools-version:6.1
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its folder: the repository's checkout folder,
// whatever it is called here.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

// libFuzzer targets, one executable per parser (docs/FUZZING.md). Built only by
// `scripts/fuzz.sh`, with `-sanitize=fuzzer,address -parse-as-library`: each target's
// main.swift defines `LLVMFuzzerTestOneInput` and libFuzzer supplies `main`. A nested
// package, so the main build never compiles them.
let parsers = Target.Dependency.product(name: "SealstreamParsers", package: root)

let package = Package(
    name: "SealstreamFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver", parsers]),
        .executableTarget(
            name: "FuzzFrames",
            dependencies: [
                "FuzzSupport", parsers,
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "FuzzMessages", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzLink", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzEvidence", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzTPM", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzPolicy", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzBootLog", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzVenueConfig", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzScenario", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(name: "FuzzRecords", dependencies: ["FuzzSupport", parsers]),
        .executableTarget(
            name: "FuzzWorker",
            dependencies: ["FuzzSupport", parsers, .product(name: "SealstreamCommitments", package: root)]
        ),
        .executableTarget(
            name: "FuzzHTTP",
            dependencies: [
                "FuzzSupport", parsers,
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
