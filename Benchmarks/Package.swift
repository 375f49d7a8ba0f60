// swift-tools-version:6.1
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its folder: the repository's checkout folder,
// whatever it is called here.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

// Benchmarks run with `scripts/bench.sh` (or `swift package benchmark` in this folder).
// A nested package, so the main build and CI never compile package-benchmark.
let package = Package(
    name: "SealstreamBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SealstreamEngine", package: root),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "CommitmentBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SealstreamEngine", package: root),
                .product(name: "SealstreamCommitments", package: root),
            ],
            path: "Benchmarks/CommitmentBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Not a package-benchmark suite: a plain executable that reports CPU time per event
        // of the worker's thread and of the process (so a sealer thread shows), and runs
        // under `valgrind --tool=callgrind` for instruction counts.
        .executableTarget(
            name: "DurabilityBench",
            dependencies: [.product(name: "SealstreamWorker", package: root)],
            path: "Benchmarks/DurabilityBench"
        ),
        // Issue 15: one tick's portfolio margin over 10k option portfolios (risk arrays plus
        // per-portfolio evaluation) across scenario counts × positions. Plain executable.
        .executableTarget(
            name: "OptionsBench",
            dependencies: [.product(name: "SealstreamOptions", package: root)],
            path: "Benchmarks/OptionsBench"
        ),
        // Issue 15: the oracle tick through the engine, 100k accounts of which 10k hold
        // options and the perpetual on the ticked underlying. Plain executable.
        .executableTarget(
            name: "OptionsTickBench",
            dependencies: [.product(name: "SealstreamEngine", package: root)],
            path: "Benchmarks/OptionsTickBench"
        ),
    ]
)
