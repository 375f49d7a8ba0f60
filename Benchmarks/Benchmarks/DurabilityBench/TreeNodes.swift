#if canImport(Glibc)
import Glibc
#endif
import Commitments
import SealCrypto

// Issue 17, price to liquidation: a batch close rehashes the changed accounts' state
// leaves and their paths in the state tree (`MerkleTree.update`), and a restart builds the
// whole tree from its leaves (`MerkleTree(leafHashes:)`). A level's nodes are independent,
// so both hash them side by side (`RFC6962.nodeHashes`: 16 SHA-256 in a zmm register with
// AVX-512F, 8 with AVX2; CSHA256Lanes). `--only tree` times one at a time (width 1, OpenSSL
// with SHA-NI, as before session 24) against the widest this CPU has, in the same run:
// building a tree of `--accounts` distinct leaves (3 builds of each, alternating), then
// `--rounds` updates of `--cohort` scattered leaves of it (default 200 rounds of 100: a
// liquidating tick's accounts, spread over the venue), alternating which width goes first.

func treeNodeHashes(accounts: Int, rounds: Int, changed: Int) {
    func micros() -> Double { Double(cpuNanos(CLOCK_MONOTONIC)) / 1_000 }
    func leaf(_ i: Int) -> Hash32 { withUnsafeBytes(of: UInt64(i)) { RFC6962.leafHash($0) } }
    let widest = RFC6962.nodeHashWidth
    let leaves = (0..<accounts).map(leaf)
    var builds: [Int: [Double]] = [1: [], widest: []]
    var tree = MerkleTree()
    for _ in 0..<3 {
        for width in [1, widest] {
            let t0 = micros()
            let built = MerkleTree(leafHashes: leaves, nodeHashWidth: width)
            builds[width]!.append(micros() - t0)
            if tree.count == 0 { tree = built } else { precondition(built.root == tree.root, "the widths built different trees") }
        }
    }
    var updates: [Int: [Double]] = [1: [], widest: []]
    var drawn = 0
    for r in 0..<rounds {
        for width in r % 2 == 0 ? [1, widest] : [widest, 1] {
            let changes = (0..<changed).map { _ in
                let i = scatteredPlace(drawn, over: accounts)
                drawn += 1
                return (index: i, leafHash: leaf(accounts + drawn))
            }
            let t0 = micros()
            tree.update(changes, nodeHashWidth: width)
            updates[width]!.append(micros() - t0)
        }
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    func f(_ x: Double) -> String { String(Double(Int(x * 10)) / 10) }
    func ratio(_ a: Double, _ b: Double) -> String { String(Double(Int(a / b * 100)) / 100) }
    print("state tree node hashes (\(accounts) leaves): one at a time (OpenSSL, SHA-NI) against \(widest) side by side "
          + "(CSHA256Lanes), same run")
    print("  build from the leaves, median of 3: width 1 \(f(median(builds[1]!) / 1_000)) ms, width \(widest) "
          + "\(f(median(builds[widest]!) / 1_000)) ms, ratio \(ratio(median(builds[widest]!), median(builds[1]!)))")
    print("  update of \(changed) scattered leaves, median of \(rounds): width 1 \(f(median(updates[1]!))) µs, width \(widest) "
          + "\(f(median(updates[widest]!))) µs, ratio \(ratio(median(updates[widest]!), median(updates[1]!)))")
}
