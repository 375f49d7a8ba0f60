import CCRC32C

/// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78, initial value and
/// final xor 0xffffffff), the checksum of journal records (docs/DURABILITY.md §2).
/// With SSE4.2 (every x86-64 CPU since 2008) the `crc32` instruction, 8 bytes at a time
/// (CCRC32C); otherwise slicing-by-8 tables, about 1 byte per cycle. Both give the same
/// value (tested).
public enum CRC32C {
    /// Whether this CPU runs the instruction (asked once).
    public static let hardware = sealstream_crc32c_hardware() != 0

    private static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xff)] }
        }
        return t
    }()

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard hardware, let base = bytes.baseAddress else { return tableChecksum(bytes) }
        return sealstream_crc32c_update(0xffff_ffff, base, bytes.count) ^ 0xffff_ffff
    }

    /// The checksum of `bytes` from the tables, whatever the CPU (the fallback; tests
    /// compare it with the instruction's).
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        var i = 0
        let n = bytes.count
        tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            while n - i >= 8 {
                let lo = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
                let hi = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16
                    | UInt32(bytes[i + 7]) << 24
                let x = crc ^ lo
                crc = t7[Int(x & 0xff)] ^ t6[Int((x >> 8) & 0xff)] ^ t5[Int((x >> 16) & 0xff)] ^ t4[Int(x >> 24)]
                    ^ t3[Int(hi & 0xff)] ^ t2[Int((hi >> 8) & 0xff)] ^ t1[Int((hi >> 16) & 0xff)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(bytes[i])) & 0xff)]
                i += 1
            }
        }
        return crc ^ 0xffff_ffff
    }

    public static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        Array(bytes).withUnsafeBytes { checksum($0) }
    }
}
