import Foundation
import SealCrypto
import TestSupport
import Testing

@testable import Commitments

// RFC 6962 node hashes side by side (CSHA256Lanes: 8 SHA-256 in a ymm register with AVX2,
// 16 in a zmm register with AVX-512F): every digest must be SHA-256(0x01 ‖ left ‖ right)
// as OpenSSL computes it, at every width this CPU has, for any set of parents.

@Suite("RFC 6962 node hashes side by side")
struct NodeHashLaneTests {
    /// Every width this CPU has: 1 (OpenSSL, one at a time), 8 (AVX2), 16 (AVX-512F).
    static let widths = [1, 8, 16].filter { $0 <= RFC6962.nodeHashWidth }

    private static func randomLevel(_ count: Int, _ rng: inout SplitMix64) -> [Hash32] {
        (0..<count).map { _ in Hash32((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
    }

    /// Each parent's digest is OpenSSL's SHA-256 of 0x01 and its two children, for counts
    /// that fill, split and underfill the groups of 8 and 16 and a batch of pointers (64),
    /// with parents scattered, repeated and out of order; no other node is written.
    @Test(arguments: widths)
    func eachDigestIsItsPair(width: Int) {
        var rng = SplitMix64(seed: 0x6962 &+ UInt64(width))
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 130] {
            let below = Self.randomLevel(2 * 150, &rng)
            var parents = (0..<count).map { _ in Int.random(in: 0..<150, using: &rng) }
            if count > 2 { parents[count - 1] = parents[0] }
            var above = [Hash32](repeating: .zero, count: 150)
            below.withUnsafeBufferPointer { b in
                above.withUnsafeMutableBufferPointer { a in
                    parents.withUnsafeBufferPointer {
                        RFC6962.nodeHashes(parents: $0, below: b.baseAddress!, above: a.baseAddress!, width: width)
                    }
                }
            }
            for p in 0..<150 {
                let expected = parents.contains(p)
                    ? Hash32(SHA256.hash([0x01] + below[2 * p].bytes + below[2 * p + 1].bytes)) : .zero
                #expect(above[p] == expected, "width \(width), count \(count), parent \(p)")
            }
        }
    }

    /// The public entry point takes the widest this CPU has, by the kernel's own account of
    /// its features (/proc/cpuinfo): 16 with AVX-512F, 8 with AVX2, else one at a time.
    @Test func theDefaultWidthIsTheWidestTheKernelReports() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set((cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? "").split(separator: " ").map(String.init))
        let expected = flags.contains("avx512f") ? 16 : flags.contains("avx2") ? 8 : 1
        #expect(RFC6962.nodeHashWidth == expected)
    }

    /// At every width, a tree built from its leaves and a tree brought to the same leaves
    /// by a batch of updates (all of them, or a scattered few) are the tree of appends
    /// through `RFC6962.nodeHash` one at a time, with the same root and proofs, at every
    /// size up to 70 (every border shape of the small levels) and at 5,000.
    @Test(arguments: widths)
    func treesBuiltAndUpdatedSideBySide(width: Int) {
        var rng = SplitMix64(seed: 0x7472_6565 &+ UInt64(width))
        for size in Array(1...70) + [5_000] {
            let leaves = Self.randomLevel(size, &rng)
            var tree = MerkleTree(leafHashes: Self.randomLevel(size, &rng), nodeHashWidth: width)
            tree.update(leaves.indices.shuffled(using: &rng).map { ($0, leaves[$0]) }, nodeHashWidth: width)
            var oneByOne = MerkleTree()
            for leaf in leaves { oneByOne.append(leaf) }
            #expect(MerkleTree(leafHashes: leaves, nodeHashWidth: width) == oneByOne, "size \(size)")
            #expect(tree == oneByOne, "size \(size)")
            // A few leaves changed again, scattered: the rest of the tree is untouched.
            var few = leaves
            let changes = (0..<min(size, 40)).map { _ in
                (Int.random(in: 0..<size, using: &rng), Hash32((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            }
            for (i, h) in changes { few[i] = h }
            tree.update(changes, nodeHashWidth: width)
            var fewOneByOne = MerkleTree()
            for leaf in few { fewOneByOne.append(leaf) }
            #expect(tree == fewOneByOne, "size \(size), scattered updates")
            #expect(tree.root == fewOneByOne.root)
            let m = Int.random(in: 0..<size, using: &rng)
            #expect(tree.inclusionProof(index: m) == fewOneByOne.inclusionProof(index: m))
        }
    }
}
