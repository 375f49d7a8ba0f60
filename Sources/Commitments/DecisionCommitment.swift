import SealCrypto
import Wire

/// The salted commitments a liquidation decision makes to the account it liquidated
/// (docs/COMMITMENTS.md §3): its state just before the step and the marks and
/// maintenance fractions it was judged at. With the salt and the preimages (the
/// owner's private statement, §7.2) anyone can open them, and `challengeLiquidation`
/// (§6.1) recomputes the verdict on chain. Without the salt they reveal nothing.
public enum DecisionCommitment {
    static let saltTag = Array("sealstream/v1/decision-salt".utf8)
    static let stateTag = Array("sealstream/v1/decision-state".utf8)
    static let marksTag = Array("sealstream/v1/decision-marks".utf8)

    /// `SHA-256("sealstream/v1/decision-salt" ‖ K ‖ account id u64 ‖ sequence u64 ‖ step u32)`,
    /// big-endian; `key` is the enclave's commitment key K (secret). A replay re-derives it.
    public static func salt(key: UnsafeRawBufferPointer, account: UInt64, sequence: UInt64, step: UInt32) -> [UInt8] {
        var h = SHA256()
        h.update(saltTag)
        h.update(key)
        withUnsafeBytes(of: account.bigEndian) { h.update($0) }
        withUnsafeBytes(of: sequence.bigEndian) { h.update($0) }
        withUnsafeBytes(of: step.bigEndian) { h.update($0) }
        return h.finalize()
    }

    /// `SHA-256("sealstream/v1/decision-state" ‖ salt ‖ state)`, `state` the §2.2 bytes.
    public static func stateHash(salt: [UInt8], state: [UInt8]) -> Hash32 {
        var h = SHA256()
        h.update(stateTag)
        h.update(salt)
        h.update(state)
        return Hash32(finalizing: &h)
    }

    /// `SHA-256("sealstream/v1/decision-marks" ‖ salt ‖ per mark: market ‖ mark ‖
    /// maintenanceBps)`, each a 32-byte big-endian word (the mark sign-extended: the ABI
    /// encoding the contract hashes), one mark per position of the state in its order.
    /// Each mark's three words are written on the stack and absorbed as they are: no array
    /// per decision (a liquidating tick commits to every decision's marks; issue 17).
    public static func marksHash(salt: [UInt8], marks: [DecisionMark]) -> Hash32 {
        var h = SHA256()
        h.update(marksTag)
        h.update(salt)
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            let w = raw.bindMemory(to: UInt64.self)
            for m in marks {
                // Words 0 and 2 are unsigned (their upper 24 bytes stay zero); word 1 is the
                // mark sign-extended to 256 bits.
                w[3] = UInt64(m.market).bigEndian
                let fill: UInt64 = m.mark < 0 ? .max : 0
                (w[4], w[5], w[6]) = (fill, fill, fill)
                w[7] = UInt64(bitPattern: m.mark).bigEndian
                w[11] = UInt64(m.maintenanceBps).bigEndian
                h.update(UnsafeRawBufferPointer(raw))
            }
        }
        return Hash32(finalizing: &h)
    }
}
