import EnclaveCore
import SealCrypto
import Testing

/// A counter in memory that behaves like the TPM's: it only goes up, unless a test
/// replaces it (`value` is settable to model a replaced index).
final class MemoryCounter: MonotonicCounter {
    var value: UInt64
    init(_ value: UInt64) { self.value = value }
    func read() throws -> UInt64 { value }
    func increment() throws -> UInt64 {
        value += 1
        return value
    }
}

@Suite("EpochCounter: the TPM counter relative to the epoch's base (DURABILITY §5.1)")
struct EpochCounterTests {
    @Test("An epoch starts at 0 whatever the TPM counter had, and follows it")
    func relative() throws {
        let tpm = MemoryCounter(41)
        let epoch = EpochCounter(tpm, base: 41)
        #expect(try epoch.read() == 0)
        #expect(try epoch.increment() == 1)
        #expect(try epoch.increment() == 2)
        #expect(tpm.value == 43)
        // Another client's increment is visible: the counter is the TPM's.
        _ = try tpm.increment()
        #expect(try epoch.read() == 3)
    }

    @Test("A counter below the base is refused, never wrapped")
    func belowBase() throws {
        let tpm = MemoryCounter(5)
        let epoch = EpochCounter(tpm, base: 9)
        let error = #expect(throws: EpochCounter.BelowBase.self) { _ = try epoch.read() }
        #expect(error?.value == 5 && error?.base == 9)
        #expect(throws: EpochCounter.BelowBase.self) { _ = try epoch.increment() }
    }

    @Test("The base tag binds the base to the storage key")
    func baseTag() throws {
        let key = SecretBytes(count: 32) { $0.initializeMemory(as: UInt8.self, repeating: 7) }
        let other = SecretBytes(count: 32) { $0.initializeMemory(as: UInt8.self, repeating: 8) }
        let tag = EpochCounter.baseTag(storageKey: key, base: 1000)
        #expect(tag.count == 32)
        #expect(tag == EpochCounter.baseTag(storageKey: key, base: 1000))
        #expect(tag != EpochCounter.baseTag(storageKey: key, base: 999))
        #expect(tag != EpochCounter.baseTag(storageKey: other, base: 1000))
        // SHA-256("sealstream/v1/counter-base" ‖ K ‖ base, 8 bytes big-endian).
        let expected = SHA256.hash(Array("sealstream/v1/counter-base".utf8) + [UInt8](repeating: 7, count: 32)
                                   + [0, 0, 0, 0, 0, 0, 0x03, 0xe8])
        #expect(tag == expected)
    }
}
