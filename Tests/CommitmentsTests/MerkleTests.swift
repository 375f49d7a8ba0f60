import SealCrypto
import TestSupport
import Testing

@testable import Commitments

// MARK: - Helpers

private func h(_ hex: String) -> Hash32 {
    Hash32(hex: hex)!
}

private func randomHash(_ rng: inout SplitMix64) -> Hash32 {
    var b = [UInt8](repeating: 0, count: 32)
    for i in 0..<32 { b[i] = UInt8.random(in: 0...255, using: &rng) }
    return Hash32(b)
}

/// A copy of `hash` with bit 3 of byte 0 flipped.
private func flipped(_ hash: Hash32) -> Hash32 {
    var b = hash.bytes
    b[0] ^= 8
    return Hash32(b)
}

// MARK: - Naive reference: RFC 6962 §2.1 transcribed literally, hashing through
// SealCrypto.SHA256 directly (not through RFC6962.nodeHash).

private enum Reference {
    static func node(_ l: Hash32, _ r: Hash32) -> Hash32 {
        Hash32(SHA256.hash([0x01] + l.bytes + r.bytes))
    }

    static func split(_ n: Int) -> Int {
        var k = 1
        while k * 2 < n { k *= 2 }
        return k
    }

    static func mth(_ d: ArraySlice<Hash32>) -> Hash32 {
        switch d.count {
        case 0: return Hash32(SHA256.hash([UInt8]()))
        case 1: return d.first!
        default:
            let k = split(d.count)
            return node(mth(d.prefix(k)), mth(d.dropFirst(k)))
        }
    }

    static func path(_ m: Int, _ d: ArraySlice<Hash32>) -> [Hash32] {
        guard d.count > 1 else { return [] }
        let k = split(d.count)
        return m < k
            ? path(m, d.prefix(k)) + [mth(d.dropFirst(k))]
            : path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    static func proof(_ m: Int, _ d: ArraySlice<Hash32>) -> [Hash32] {
        m == 0 || m == d.count ? [] : subproof(m, d, true)
    }

    static func subproof(_ m: Int, _ d: ArraySlice<Hash32>, _ b: Bool) -> [Hash32] {
        if m == d.count { return b ? [] : [mth(d)] }
        let k = split(d.count)
        return m <= k
            ? subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))]
            : subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }
}

// MARK: - Tampering probes (the ones the CT C++ and Go verifier tests apply)

private func inclusionProbesAllFail(
    leaf: Hash32, index: UInt64, size: UInt64, proof: [Hash32], root: Hash32,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let other = RFC6962.leafHash(Array("WrongLeaf".utf8))
    var probes: [(String, Hash32, UInt64, UInt64, [Hash32], Hash32)] = [
        ("index - 1", leaf, index &- 1, size, proof, root),
        ("index + 1", leaf, index + 1, size, proof, root),
        ("index ^ 2", leaf, index ^ 2, size, proof, root),
        ("size * 2", leaf, index, size * 2, proof, root),
        ("size / 2", leaf, index, size / 2, proof, root),
        ("wrong leaf", other, index, size, proof, root),
        ("empty root", leaf, index, size, proof, RFC6962.emptyRoot),
        ("trailing root", leaf, index, size, proof + [root], root),
        ("trailing garbage", leaf, index, size, proof + [.zero], root),
        ("preceding root", leaf, index, size, [root] + proof, root),
        ("preceding garbage", leaf, index, size, [.zero] + proof, root),
    ]
    for i in proof.indices {
        var p = proof
        p[i] = flipped(p[i])
        probes.append(("modified proof[\(i)]", leaf, index, size, p, root))
    }
    if !proof.isEmpty { probes.append(("removed component", leaf, index, size, Array(proof.dropLast()), root)) }
    if proof.count > 1 {
        probes.append(("inserted component", leaf, index, size, [proof[0], other] + proof.dropFirst(), root))
    }
    for (what, l, i, s, p, r) in probes {
        #expect(
            !RFC6962.verifyInclusion(leafHash: l, index: i, treeSize: s, proof: p, root: r),
            "\(what) verified (index \(index), size \(size))", sourceLocation: sourceLocation)
    }
}

private func consistencyProbesAllFail(
    oldSize: UInt64, newSize: UInt64, oldRoot: Hash32, newRoot: Hash32, proof: [Hash32],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let wrong = RFC6962.leafHash(Array("WrongRoot".utf8))
    let m = oldSize
    let n = newSize
    var probes: [(String, UInt64, UInt64, Hash32, Hash32, [Hash32])] = [
        ("old size - 1", m - 1, n, oldRoot, newRoot, proof),
        ("old size + 1", m + 1, n, oldRoot, newRoot, proof),
        ("old size ^ 2", m ^ 2, n, oldRoot, newRoot, proof),
        ("new size * 2", m, n * 2, oldRoot, newRoot, proof),
        ("new size / 2", m, n / 2, oldRoot, newRoot, proof),
        ("wrong old root", m, n, wrong, newRoot, proof),
        ("wrong new root", m, n, oldRoot, wrong, proof),
        ("swapped roots", m, n, newRoot, oldRoot, proof),
        ("empty proof", m, n, oldRoot, newRoot, []),
        ("trailing garbage", m, n, oldRoot, newRoot, proof + [.zero]),
        ("trailing old root", m, n, oldRoot, newRoot, proof + [oldRoot]),
        ("trailing new root", m, n, oldRoot, newRoot, proof + [newRoot]),
        ("preceding garbage", m, n, oldRoot, newRoot, [.zero] + proof),
        ("preceding old root", m, n, oldRoot, newRoot, [oldRoot] + proof),
        ("preceding new root", m, n, oldRoot, newRoot, [newRoot] + proof),
        ("preceding proof[0]", m, n, oldRoot, newRoot, [proof[0]] + proof),
        ("truncated proof", m, n, oldRoot, newRoot, Array(proof.dropLast())),
    ]
    for i in proof.indices {
        var p = proof
        p[i] = flipped(p[i])
        probes.append(("modified proof[\(i)]", m, n, oldRoot, newRoot, p))
    }
    for (what, a, b, r1, r2, p) in probes {
        #expect(
            !RFC6962.verifyConsistency(oldSize: a, newSize: b, oldRoot: r1, newRoot: r2, proof: p),
            "\(what) verified (\(oldSize) → \(newSize))", sourceLocation: sourceLocation)
    }
}

// MARK: - Hash32

@Suite("Hash32")
struct Hash32Tests {
    @Test func hexRoundTrip() {
        let text = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        let value = h(text)
        #expect(value.hex == "0x" + text)
        #expect(value.description == "0x" + text)
        #expect(Hash32(hex: "0x" + text) == value)
        #expect(Hash32(hex: "0X" + text.uppercased()) == value)
        #expect(Hash32(value.bytes) == value)
        #expect(value.bytes == fromHex(text))
        #expect(value.withUnsafeBytes { Array($0) } == fromHex(text))
        #expect(value.bytes.withUnsafeBytes { Hash32($0) } == value)
        #expect(Hash32.zero.bytes == [UInt8](repeating: 0, count: 32))
        #expect(Hash32.zero.hex == "0x" + String(repeating: "0", count: 64))
        #expect(Set([value, h(text), .zero]).count == 2)
        // Equality and hashing see every byte.
        var distinct: Set<Hash32> = [.zero]
        for k in 0..<32 {
            var b = [UInt8](repeating: 0, count: 32)
            b[k] = 1
            #expect(Hash32(b) != .zero, "byte \(k)")
            distinct.insert(Hash32(b))
        }
        #expect(distinct.count == 33)
        // Each byte lands in its own position.
        let counting = Hash32(Array(0..<32))
        #expect(counting.hex == "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    }

    @Test(arguments: [
        "", "0x", "00", String(repeating: "0", count: 63), String(repeating: "0", count: 65),
        "0x" + String(repeating: "0", count: 62), "0x0x" + String(repeating: "0", count: 62),
        String(repeating: "0", count: 63) + "g", " " + String(repeating: "0", count: 63),
        String(repeating: "0", count: 62) + "é", "x0" + String(repeating: "0", count: 62),
    ])
    func rejectsMalformedHex(_ text: String) {
        #expect(Hash32(hex: text) == nil)
    }
}

// MARK: - Published vectors

/// The reference tree of Certificate Transparency: leaf inputs `kInputs`, roots
/// `kSHA256Roots`, audit paths `kSHA256Paths` and consistency proofs `kSHA256Proofs` from
/// google/certificate-transparency cpp/merkletree/merkle_tree_test.cc; the same tree is
/// `testonly.LeafInputs` / `RootHashes` / `NodeHashes` in transparency-dev/merkle
/// testonly/constants.go, and proof/verify_test.go adds the 6 → 7 consistency proof.
enum CTVectors {
    static let inputs: [[UInt8]] = [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
    ].map(fromHex)

    static let emptyRoot = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

    /// Roots of the first 1…8 leaves.
    static let roots: [Hash32] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map(h)

    /// transparency-dev/merkle `testonly.NodeHashes()`: every complete subtree, by level.
    static let nodeHashes: [[Hash32]] = [
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ].map(h),
        [
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ].map(h),
        [
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ].map(h),
        [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
    ]

    struct Path: Sendable, CustomTestStringConvertible {
        /// 0-based (kSHA256Paths numbers leaves from 1).
        var index: Int
        var size: Int
        var proof: [Hash32]
        var testDescription: String { "leaf \(index) of \(size)" }
    }

    /// kSHA256Paths entries {1,8}, {6,8}, {3,3}, {2,5} (1-based leaf, snapshot, path).
    static let paths: [Path] = [
        Path(
            index: 0, size: 8,
            proof: [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ].map(h)),
        Path(
            index: 5, size: 8,
            proof: [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ].map(h)),
        Path(
            index: 2, size: 3,
            proof: [
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
            ].map(h)),
        Path(
            index: 1, size: 5,
            proof: [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ].map(h)),
    ]

    struct Proof: Sendable, CustomTestStringConvertible {
        var oldSize: Int
        var newSize: Int
        var proof: [Hash32]
        var testDescription: String { "\(oldSize) → \(newSize)" }
    }

    /// kSHA256Proofs {1,8}, {6,8}, {2,5} and verify_test.go's {6,7}.
    static let proofs: [Proof] = [
        Proof(
            oldSize: 1, newSize: 8,
            proof: [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ].map(h)),
        Proof(
            oldSize: 6, newSize: 8,
            proof: [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ].map(h)),
        Proof(
            oldSize: 2, newSize: 5,
            proof: [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ].map(h)),
        Proof(
            oldSize: 6, newSize: 7,
            proof: [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ].map(h)),
    ]

    static var leafHashes: [Hash32] { inputs.map { RFC6962.leafHash($0) } }
    static var tree: MerkleTree { MerkleTree(leafHashes: leafHashes) }
}

@Suite("RFC 6962 published vectors")
struct PublishedVectorTests {
    @Test func emptyTreeAndLeafHashes() {
        #expect(RFC6962.emptyRoot == CTVectors.emptyRoot)
        #expect(MerkleTree().root == CTVectors.emptyRoot)
        #expect(CTVectors.leafHashes == CTVectors.nodeHashes[0])
        // All three ways of passing leaf data agree.
        for input in CTVectors.inputs {
            let viaBuffer = input.withUnsafeBytes { RFC6962.leafHash($0) }
            #expect(RFC6962.leafHash(input) == viaBuffer)
            #expect(RFC6962.leafHash(input.lazy.map { $0 }) == viaBuffer)  // not contiguous
        }
        // nodeHash is SHA-256(0x01 ‖ left ‖ right).
        #expect(RFC6962.nodeHash(CTVectors.nodeHashes[0][0], CTVectors.nodeHashes[0][1]) == CTVectors.nodeHashes[1][0])
        #expect(RFC6962.nodeHash(CTVectors.nodeHashes[2][0], CTVectors.nodeHashes[2][1]) == CTVectors.roots[7])
    }

    @Test func rootsOfEverySize() {
        let tree = CTVectors.tree
        var appended = MerkleTree()
        var log = CompactLog()
        #expect(tree.root(size: 0) == CTVectors.emptyRoot)
        for n in 1...8 {
            #expect(tree.root(size: n) == CTVectors.roots[n - 1], "size \(n)")
            appended.append(CTVectors.leafHashes[n - 1])
            #expect(appended.root == CTVectors.roots[n - 1], "appended, size \(n)")
            #expect(MerkleTree(leafHashes: Array(CTVectors.leafHashes.prefix(n))).root == CTVectors.roots[n - 1])
            log.append(CTVectors.leafHashes[n - 1])
            let closed = log.close()
            #expect(closed.root == CTVectors.roots[n - 1], "compact log, size \(n)")
            #expect(closed.size == UInt64(n) && closed.previousSize == UInt64(n - 1))
        }
        #expect(appended == tree)
        #expect(tree.root == CTVectors.roots[7])
    }

    @Test func everyCompleteSubtree() {
        for (level, nodes) in CTVectors.nodeHashes.enumerated() {
            for (index, expected) in nodes.enumerated() {
                let leaves = CTVectors.leafHashes[(index << level)..<((index + 1) << level)]
                #expect(MerkleTree(leafHashes: Array(leaves)).root == expected, "node (\(level), \(index))")
            }
        }
    }

    @Test(arguments: CTVectors.paths)
    func inclusionProof(_ v: CTVectors.Path) {
        let tree = CTVectors.tree
        #expect(tree.inclusionProof(index: v.index, size: v.size) == v.proof)
        let root = CTVectors.roots[v.size - 1]
        let leaf = CTVectors.leafHashes[v.index]
        #expect(
            RFC6962.verifyInclusion(
                leafHash: leaf, index: UInt64(v.index), treeSize: UInt64(v.size), proof: v.proof, root: root))
        inclusionProbesAllFail(leaf: leaf, index: UInt64(v.index), size: UInt64(v.size), proof: v.proof, root: root)
    }

    @Test func inclusionEdgeCases() {
        // kSHA256Paths {1,1}: a one-leaf tree's path is empty and its root is the leaf.
        let tree = CTVectors.tree
        #expect(tree.inclusionProof(index: 0, size: 1) == [])
        let leaf = CTVectors.leafHashes[0]
        #expect(RFC6962.verifyInclusion(leafHash: leaf, index: 0, treeSize: 1, proof: [], root: leaf))
        #expect(!RFC6962.verifyInclusion(leafHash: leaf, index: 0, treeSize: 1, proof: [], root: CTVectors.emptyRoot))
        // verify_test.go TestVerifyInclusion: (index, size) = (0,0), (0,1), (1,0), (2,1)
        // with an empty proof and a leaf that is not the root never verify.
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
        for (index, size): (UInt64, UInt64) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
            #expect(
                !RFC6962.verifyInclusion(
                    leafHash: some, index: index, treeSize: size, proof: [], root: CTVectors.emptyRoot))
            #expect(
                !RFC6962.verifyInclusion(
                    leafHash: CTVectors.emptyRoot, index: index, treeSize: size, proof: [], root: some))
        }
    }

    @Test(arguments: CTVectors.proofs)
    func consistencyProof(_ v: CTVectors.Proof) {
        let tree = CTVectors.tree
        #expect(tree.consistencyProof(oldSize: v.oldSize, newSize: v.newSize) == v.proof)
        let oldRoot = CTVectors.roots[v.oldSize - 1]
        let newRoot = CTVectors.roots[v.newSize - 1]
        #expect(
            RFC6962.verifyConsistency(
                oldSize: UInt64(v.oldSize), newSize: UInt64(v.newSize), oldRoot: oldRoot, newRoot: newRoot,
                proof: v.proof))
        consistencyProbesAllFail(
            oldSize: UInt64(v.oldSize), newSize: UInt64(v.newSize), oldRoot: oldRoot, newRoot: newRoot, proof: v.proof)

        // The compact log closed at the old size produces the same proof at the new one.
        var log = CompactLog()
        for leaf in CTVectors.leafHashes.prefix(v.oldSize) { log.append(leaf) }
        _ = log.close()
        for leaf in CTVectors.leafHashes[v.oldSize..<v.newSize] { log.append(leaf) }
        let closed = log.close()
        #expect(closed.consistency == v.proof)
        #expect(closed.root == newRoot && closed.previousSize == UInt64(v.oldSize))
    }

    /// verify_test.go TestVerifyConsistency's table, with our documented choice for a
    /// proof from size 0 (see `RFC6962.verifyConsistency`).
    @Test func consistencyEdgeCases() {
        let root1 = RFC6962.leafHash(Array("don't care 1".utf8))
        let root2 = RFC6962.leafHash(Array("don't care 2".utf8))
        let empty = CTVectors.emptyRoot
        let cases: [(UInt64, UInt64, Hash32, Hash32, [Hash32], Bool)] = [
            (0, 0, root1, root2, [], false),
            (1, 1, root1, root2, [], false),
            (1, 1, root2, root2, [], true),  // equal sizes, equal roots, empty proof
            (1, 0, root1, root2, [], false),  // time travel to the past
            (2, 1, root1, root2, [], false),
            (1, 2, root1, root2, [], false),  // empty proof
            (1, 1, empty, root2, [], false),  // roots don't match
            (1, 1, empty, empty, [empty], false),  // roots match but the proof is not empty
            (0, 0, empty, empty, [empty], false),
            (0, 1, empty, empty, [empty], false),
            // From size 0. Go: always an error; CT C++: any roots accepted. Ours: only the
            // empty tree's root with an empty proof.
            (0, 0, empty, empty, [], true),
            (0, 0, root1, root1, [], false),
            (0, 1, empty, root2, [], true),
            (0, 1, root1, root2, [], false),
            (0, 5, empty, CTVectors.roots[4], [], true),
            (0, 5, empty, CTVectors.roots[4], [CTVectors.roots[4]], false),
        ]
        for (m, n, r1, r2, proof, expected) in cases {
            #expect(
                RFC6962.verifyConsistency(oldSize: m, newSize: n, oldRoot: r1, newRoot: r2, proof: proof) == expected,
                "\(m) → \(n)")
        }
        #expect(CTVectors.tree.consistencyProof(oldSize: 0, newSize: 8) == [])
        #expect(CTVectors.tree.consistencyProof(oldSize: 8) == [])
        #expect(CTVectors.tree.consistencyProof(oldSize: 3, newSize: 3) == [])
    }

    /// Larger trees than the published vectors cover (more levels, deeper right borders):
    /// leaves are `leafHash(UInt32 big-endian i)`; expected values computed with an
    /// independent Python/hashlib implementation of RFC 6962 §2.1, not published. The
    /// proof lengths match the node lists of transparency-dev/merkle proof_test.go for
    /// the same sizes.
    @Test func largerTreesCrossChecked() {
        let leaves = (0..<300).map { i in withUnsafeBytes(of: UInt32(i).bigEndian) { RFC6962.leafHash($0) } }
        let tree = MerkleTree(leafHashes: leaves)
        #expect(tree.root(size: 95) == h("af1980cb15c65375a059f92031aa3fbd8133cea2d31d62fc0a4b2483ad44f433"))
        #expect(tree.root(size: 256) == h("78cd7db3bbfa785ffefa21e1c0aa7d4806c6e22ad65472710377ecb7e5a5a54e"))
        #expect(tree.root == h("7cb38a3a7211231d902f423fcd3f43cf9ac6da0aa1f31de0876c9927451ee3c5"))
        #expect(
            tree.inclusionProof(index: 81, size: 95)
                == [
                    "dbe9c3d08963f2abda1133c6ada80d41b023e2c14b6c9e85bfa9b9a59321df34",
                    "d1cff89cf2b43e6660171c8ef7d91d0bbf5977bed2ca39cc6623861b25be084f",
                    "ee2881c23ebdfb73dbe35d8fbbe23b739ebc4c0dd89c86ae095d9c2bfe6a4468",
                    "f4490175291a3c994efb45a23535b479373d7044301ece3f75f113e771aadd8d",
                    "904d38bc1361665cd7fac3fca45cd9413c95dcfc34d33ae31ca8fbf96e4eb124",
                    "54dd1c2aaf0a20c174fc9df80919a65ef5b240dc55890e91daec1cdd063c6f1e",
                ].map(h))
        #expect(
            tree.consistencyProof(oldSize: 81, newSize: 95)
                == [
                    "dbe9c3d08963f2abda1133c6ada80d41b023e2c14b6c9e85bfa9b9a59321df34",
                    "294397e8f898180b414efcebd614710706ea07ee3f7ba1d1c461ffdb078aaa38",
                    "d1cff89cf2b43e6660171c8ef7d91d0bbf5977bed2ca39cc6623861b25be084f",
                    "ee2881c23ebdfb73dbe35d8fbbe23b739ebc4c0dd89c86ae095d9c2bfe6a4468",
                    "f4490175291a3c994efb45a23535b479373d7044301ece3f75f113e771aadd8d",
                    "904d38bc1361665cd7fac3fca45cd9413c95dcfc34d33ae31ca8fbf96e4eb124",
                    "54dd1c2aaf0a20c174fc9df80919a65ef5b240dc55890e91daec1cdd063c6f1e",
                ].map(h))
        #expect(
            tree.consistencyProof(oldSize: 24, newSize: 31)
                == [
                    "620a675510b9b1c01abab4fc19f62a91240ed0896267d62d1a325e3416875757",
                    "e056542bdd6a52600c6a40adfc8c2cb98907dab01881c37eb60b723a06131912",
                    "62a77d6fd48269288f766d07046e320b07fa34c21e57f78a45e110768dcf9308",
                ].map(h))
    }
}

// MARK: - Properties against the naive reference

@Suite("Merkle tree properties")
struct MerklePropertyTests {
    private static func leaves(_ count: Int, _ rng: inout SplitMix64) -> [Hash32] {
        (0..<count).map { _ in randomHash(&rng) }
    }

    @Test func rootsMatchReference() {
        var rng = SplitMix64(seed: 1)
        let sizes = Array(0...70) + (0..<30).map { _ in Int.random(in: 71...300, using: &rng) }
        for n in sizes {
            let leaves = Self.leaves(n, &rng)
            let tree = MerkleTree(leafHashes: leaves)
            #expect(tree.count == n)
            #expect(tree.root == Reference.mth(leaves[...]), "size \(n)")
            var appended = MerkleTree()
            if n % 2 == 0 { appended.reserveCapacity(n) }
            for leaf in leaves { appended.append(leaf) }
            #expect(appended == tree, "appended tree differs at size \(n)")
            var reserved = MerkleTree()
            reserved.reserveCapacity(4 * n + 1)
            for leaf in leaves { reserved.append(leaf) }
            #expect(reserved == tree && reserved.root == tree.root, "reserved tree differs at size \(n)")
            for _ in 0..<3 {
                let m = Int.random(in: 0...n, using: &rng)
                #expect(tree.root(size: m) == Reference.mth(leaves.prefix(m)), "root(size: \(m)) of \(n)")
            }
        }
    }

    @Test func inclusionProofs() {
        var rng = SplitMix64(seed: 2)
        var pairs: [(index: Int, size: Int)] = []
        for n in 1...33 { for i in 0..<n { pairs.append((i, n)) } }
        for _ in 0..<150 {
            let n = Int.random(in: 34...300, using: &rng)
            pairs.append((Int.random(in: 0..<n, using: &rng), n))
        }
        let leaves = Self.leaves(300, &rng)
        let tree = MerkleTree(leafHashes: leaves)
        for (i, n) in pairs {
            let proof = tree.inclusionProof(index: i, size: n)
            #expect(proof == Reference.path(i, leaves.prefix(n)), "path of \(i) in \(n)")
            let root = tree.root(size: n)
            #expect(
                RFC6962.verifyInclusion(
                    leafHash: leaves[i], index: UInt64(i), treeSize: UInt64(n), proof: proof, root: root))
            inclusionProbesAllFail(leaf: leaves[i], index: UInt64(i), size: UInt64(n), proof: proof, root: root)
        }
        // Proofs at the current size need no size argument.
        #expect(tree.inclusionProof(index: 7) == tree.inclusionProof(index: 7, size: 300))
    }

    @Test func consistencyProofs() {
        var rng = SplitMix64(seed: 3)
        var pairs: [(m: Int, n: Int)] = []
        for n in 1...40 { for m in 0...n { pairs.append((m, n)) } }
        for _ in 0..<150 {
            let n = Int.random(in: 41...300, using: &rng)
            pairs.append((Int.random(in: 1...n, using: &rng), n))
        }
        let leaves = Self.leaves(300, &rng)
        let tree = MerkleTree(leafHashes: leaves)
        for (m, n) in pairs {
            let proof = tree.consistencyProof(oldSize: m, newSize: n)
            #expect(proof == Reference.proof(m, leaves.prefix(n)), "proof \(m) → \(n)")
            let oldRoot = tree.root(size: m)
            let newRoot = tree.root(size: n)
            #expect(
                RFC6962.verifyConsistency(
                    oldSize: UInt64(m), newSize: UInt64(n), oldRoot: oldRoot, newRoot: newRoot, proof: proof),
                "\(m) → \(n)")
            if !proof.isEmpty {
                consistencyProbesAllFail(
                    oldSize: UInt64(m), newSize: UInt64(n), oldRoot: oldRoot, newRoot: newRoot, proof: proof)
            }
        }
    }

    @Test(arguments: [4 as UInt64, 5, 6, 7])
    func compactLogMatchesTree(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let leaves = Self.leaves(700, &rng)
        let tree = MerkleTree(leafHashes: leaves)
        var log = CompactLog()
        var previousRoot = RFC6962.emptyRoot
        var next = 0
        while next < leaves.count {
            // Mostly small batches, sometimes a large one, sometimes a close with nothing new.
            let batch =
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: 0
                case 1: Int.random(in: 64...200, using: &rng)
                default: Int.random(in: 1...24, using: &rng)
                }
            let end = min(leaves.count, next + batch)
            for leaf in leaves[next..<end] { log.append(leaf) }
            #expect(log.size == UInt64(end) && log.pendingCount == end - next)
            let closed = log.close()
            #expect(closed.size == UInt64(end))
            #expect(closed.previousSize == UInt64(next))
            #expect(closed.root == tree.root(size: end), "root at \(end)")
            #expect(closed.consistency == tree.consistencyProof(oldSize: next, newSize: end), "\(next) → \(end)")
            #expect(
                RFC6962.verifyConsistency(
                    oldSize: UInt64(next), newSize: UInt64(end), oldRoot: previousRoot, newRoot: closed.root,
                    proof: closed.consistency), "\(next) → \(end)")
            #expect(log.closedSize == UInt64(end) && log.closedRoot == closed.root && log.pendingCount == 0)
            previousRoot = closed.root
            next = end
        }
    }

    @Test func updatesMatchRebuild() {
        var rng = SplitMix64(seed: 8)
        for _ in 0..<40 {
            let n = Int.random(in: 1...300, using: &rng)
            var leaves = Self.leaves(n, &rng)
            var tree = MerkleTree(leafHashes: leaves)
            // Single updates.
            for _ in 0..<5 {
                let i = Int.random(in: 0..<n, using: &rng)
                leaves[i] = randomHash(&rng)
                tree.update(at: i, to: leaves[i])
            }
            #expect(tree == MerkleTree(leafHashes: leaves), "single updates, size \(n)")
            // A batch, with repeated indices (the last change wins).
            var changes: [(index: Int, leafHash: Hash32)] = []
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                let i = Int.random(in: 0..<n, using: &rng)
                let leaf = randomHash(&rng)
                changes.append((i, leaf))
                leaves[i] = leaf
            }
            tree.update(changes)
            #expect(tree == MerkleTree(leafHashes: leaves), "batch update, size \(n)")
            #expect(tree.root == Reference.mth(leaves[...]))
            // Appending after updates still builds the right tree.
            let extra = Self.leaves(Int.random(in: 1...20, using: &rng), &rng)
            for leaf in extra { tree.append(leaf) }
            leaves += extra
            #expect(tree == MerkleTree(leafHashes: leaves), "append after updates, size \(leaves.count)")
            tree.update([])
            #expect(tree.leafHash(at: leaves.count - 1) == leaves.last)
        }
    }
}

// MARK: - Hostile input and sizes near 2^64

/// A virtual tree of any size whose leaves all equal `leaf`: the perfect subtree at level
/// h is the h-fold self-hash, so roots and proofs exist for sizes no real tree reaches.
private struct UniformTree: PerfectSubtreeSource {
    let byLevel: [Hash32]
    init(leaf: Hash32) {
        var levels = [leaf]
        for _ in 1..<64 { levels.append(Reference.node(levels.last!, levels.last!)) }
        byLevel = levels
    }
    func perfectSubtree(level: Int, index: UInt64) -> Hash32 { byLevel[level] }
}

@Suite("Hostile input")
struct HostileInputTests {
    @Test func inclusionNeverTraps() {
        var rng = SplitMix64(seed: 9)
        let leaf = randomHash(&rng)
        let root = randomHash(&rng)
        let long = (0..<70).map { _ in randomHash(&rng) }
        let huge = Array(repeating: root, count: 10_000)
        let sizes: [UInt64] = [0, 1, 2, 3, 1 << 32, 1 << 63, UInt64.max - 1, UInt64.max]
        let indices: [UInt64] = [0, 1, 2, 1 << 62, UInt64.max - 2, UInt64.max - 1, UInt64.max]
        for size in sizes {
            for index in indices {
                for count in [0, 1, 2, 63, 64, 65, 70] {
                    #expect(
                        !RFC6962.verifyInclusion(
                            leafHash: leaf, index: index, treeSize: size, proof: Array(long.prefix(count)), root: root))
                }
                #expect(!RFC6962.verifyInclusion(leafHash: leaf, index: index, treeSize: size, proof: huge, root: root))
            }
        }
        // Index ≥ size is refused even when leaf == root and the proof is empty.
        #expect(!RFC6962.verifyInclusion(leafHash: leaf, index: 1, treeSize: 1, proof: [], root: leaf))
        #expect(!RFC6962.verifyInclusion(leafHash: leaf, index: 0, treeSize: 0, proof: [], root: leaf))
        #expect(
            !RFC6962.verifyInclusion(leafHash: leaf, index: UInt64.max, treeSize: UInt64.max, proof: [], root: leaf))
    }

    @Test func consistencyNeverTraps() {
        var rng = SplitMix64(seed: 10)
        let a = randomHash(&rng)
        let b = randomHash(&rng)
        let long = (0..<70).map { _ in randomHash(&rng) }
        let huge = Array(repeating: a, count: 10_000)
        let sizes: [UInt64] = [0, 1, 2, 3, 1 << 32, (1 << 63) - 1, 1 << 63, UInt64.max - 1, UInt64.max]
        for old in sizes {
            for new in sizes {
                for count in [0, 1, 2, 63, 64, 65, 70] {
                    #expect(
                        !RFC6962.verifyConsistency(
                            oldSize: old, newSize: new, oldRoot: a, newRoot: b, proof: Array(long.prefix(count))))
                }
                #expect(!RFC6962.verifyConsistency(oldSize: old, newSize: new, oldRoot: a, newRoot: b, proof: huge))
            }
        }
    }

    /// Proofs in trees of up to 2^64 − 1 leaves verify, and tampered ones do not: shifts
    /// and subtractions near the top of the range do not overflow.
    @Test func hugeTreesVerify() {
        let uniform = UniformTree(leaf: RFC6962.leafHash([0x42] as [UInt8]))
        let leaf = uniform.byLevel[0]
        var rng = SplitMix64(seed: 11)
        var sizes: [UInt64] = [
            UInt64.max, UInt64.max - 1, 1 << 63, (1 << 63) + 1, (1 << 63) - 1, 1 << 40, (1 << 40) + 1,
        ]
        for _ in 0..<20 { sizes.append(UInt64.random(in: 2...UInt64.max, using: &rng)) }
        for size in sizes {
            let root = uniform.subtreeHash(0, size)
            for index in [0, 1, size / 2, size - 2, size - 1, UInt64.random(in: 0..<size, using: &rng)] {
                let proof = uniform.inclusionPath(index: index, size: size)
                #expect(proof.count <= 64)
                #expect(
                    RFC6962.verifyInclusion(leafHash: leaf, index: index, treeSize: size, proof: proof, root: root),
                    "leaf \(index) of \(size)")
                #expect(
                    !RFC6962.verifyInclusion(
                        leafHash: leaf, index: index, treeSize: size, proof: proof + [leaf], root: root))
                if !proof.isEmpty {
                    #expect(
                        !RFC6962.verifyInclusion(
                            leafHash: leaf, index: index, treeSize: size,
                            proof: Array(proof.dropLast()) + [flipped(proof.last!)], root: root))
                }
            }
            for old in [1, 2, size / 2, size - 1, UInt64.random(in: 1..<size, using: &rng)] {
                let proof = uniform.consistencyPath(oldSize: old, newSize: size)
                let oldRoot = uniform.subtreeHash(0, old)
                #expect(
                    RFC6962.verifyConsistency(
                        oldSize: old, newSize: size, oldRoot: oldRoot, newRoot: root, proof: proof),
                    "\(old) → \(size)")
                #expect(
                    !RFC6962.verifyConsistency(
                        oldSize: old, newSize: size, oldRoot: oldRoot, newRoot: root,
                        proof: Array(proof.dropLast()) + [flipped(proof.last!)]))
                #expect(
                    !RFC6962.verifyConsistency(
                        oldSize: old, newSize: size, oldRoot: oldRoot, newRoot: root, proof: proof + [leaf]))
            }
        }
        // The last leaf of a 2^64 − 1 tree: its path is the perfect subtrees of levels 1…63.
        #expect(uniform.inclusionPath(index: UInt64.max - 1, size: UInt64.max) == Array(uniform.byLevel[1...63]))
    }
}
