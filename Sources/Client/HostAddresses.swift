import Attestation
import SealCrypto

/// A list of host addresses as the command line and the SDK take it (docs/PROTOCOL.md
/// §2.14): `HOST:PORT[,HOST:PORT...]`, tried first to last, then round robin. Pure.
public enum HostAddresses {
    /// Splits and checks a comma-separated list: each entry `HOST:PORT` with a non-empty
    /// host and a port of ASCII digits only (no sign; leading zeros allowed) whose value is
    /// 1...65535, no entry twice (compared as trimmed text), at least one. Spaces (U+0020
    /// only) around entries are ignored. Works on the UTF-8 bytes, as §2.14 states it: split
    /// at every `,` byte, compared byte for byte (not by Swift's `Character`s and canonical
    /// equivalence, under which `,` or a space followed by a combining mark is no separator
    /// and `é` equals `e` + U+0301).
    public static func parse(_ list: String) throws(ClientError) -> [String] {
        var out: [String] = []
        var seen: [[UInt8]] = []
        for raw in list.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            var bytes = raw[...]
            while bytes.first == UInt8(ascii: " ") { bytes.removeFirst() }
            while bytes.last == UInt8(ascii: " ") { bytes.removeLast() }
            let entry = String(decoding: bytes, as: UTF8.self)
            guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")), colon != bytes.startIndex else {
                throw .addressInvalid(entry)
            }
            let digits = bytes[bytes.index(after: colon)...]
            // `UInt16(_:)` alone would also take a leading `+`.
            guard !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }),
                  let port = UInt16(String(decoding: digits, as: UTF8.self)), port > 0
            else { throw .addressInvalid(entry) }
            guard !seen.contains(where: { $0.elementsEqual(bytes) }) else { throw .addressInvalid("\(entry) (given twice)") }
            seen.append(Array(bytes))
            out.append(entry)
        }
        guard !out.isEmpty else { throw .addressInvalid(list) }
        return out
    }

    /// `addresses` starting at `first` (then the rest in their round-robin order), so a
    /// new connection goes straight to the host another connection found primary;
    /// unchanged if `first` is not in the list.
    public static func rotated(_ addresses: [String], startingAt first: String) -> [String] {
        guard let i = addresses.firstIndex(where: { $0.utf8.elementsEqual(first.utf8) }) else { return addresses }
        return Array(addresses[i...] + addresses[..<i])
    }
}

extension HostAddresses {
    /// Evidence from the first address that accepts a connection and does not answer
    /// `notPrimary` (a standby, docs/REPLICATION.md §8.1), in order, with the connection it
    /// came over (for commands that do not recover: `evidence`, `load`, `statement`).
    /// Other failures (a failed policy, another refusal) are final; throws the last
    /// address's error when none served.
    public static func evidenceFromPrimary(
        _ addresses: [String], nonce: [UInt8] = Sodium.randomBytes(32), requirement: AttestationRequirement? = nil
    ) throws(ClientError) -> (connection: Connection, evidence: Evidence) {
        var last = ClientError.addressInvalid("")
        for address in addresses {
            let connection: Connection
            do { connection = try Connection(address: address) } catch {
                last = error
                continue
            }
            do {
                return (connection, try EvidenceFetch.fetch(over: connection, nonce: nonce, requirement: requirement))
            } catch .refused(.notPrimary) {
                last = .refused(.notPrimary)
            }
        }
        throw last
    }
}
