import Engine

/// What a deliberately broken test build changes; nothing in the measured
/// `sealstream-enclave`, which is compiled without the flag below.
///
/// `sealstream-enclave-broken-maintenance` (Package.swift: the same sources, symlinked,
/// compiled with `SEALSTREAM_TEST_BROKEN_MAINTENANCE`) liquidates at a maintenance fraction
/// one basis point below each tier's initial one (the highest a valid configuration allows)
/// while its evidence names the configuration it was given: the
/// wrong liquidations a fraud proof must catch (docs/COMMITMENTS.md §6.1,
/// `contracts/tests/test_real_outputs.py`). Never measured into a policy, never shipped.
enum TestBuild {
    #if SEALSTREAM_TEST_BROKEN_MAINTENANCE
    static func adjust(_ config: VenueConfig) -> VenueConfig {
        var broken = config
        for i in broken.marginTiers.indices {
            broken.marginTiers[i].maintenanceBps = broken.marginTiers[i].initialBps - 1
        }
        return broken
    }
    #else
    @inline(__always)
    static func adjust(_ config: VenueConfig) -> VenueConfig { config }
    #endif
}
