#if canImport(Glibc)
import Glibc
#endif
import CEnclaveSys

/// Transparent huge pages for the worker's large allocations (docs/DURABILITY.md §6.6):
/// the snapshot's `fork()` copies the page tables, 512 times fewer of them for memory on
/// 2 MiB pages. The worker does it itself (its environment is refused, so glibc's
/// `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` is not available to it): a keeper thread at
/// nice 10, once live, asks for huge pages on every private anonymous mapping of 2 MiB
/// or more (`ss_advise_huge_pages`), once a second; khugepaged collapses the pages
/// already there in the background. It does not collapse synchronously
/// (`MADV_COLLAPSE`): on this machine's kernel that crashed the worker on zeroed memory
/// within its first events (docs/DURABILITY.md §6.6). With the kernel's THP mode `never` the advice is refused and nothing
/// changes but the pause.
enum HugePages {
    /// Seconds between passes.
    static let period: UInt32 = 1

    /// Starts the keeper thread (once, when the worker goes live; never in `--replay`).
    static func startKeeper() {
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { _ in
            _ = ss_set_thread_name("huge-pages")
            _ = ss_set_thread_nice(10)
            while true {
                _ = ss_advise_huge_pages(2 << 20, 0)
                sleep(HugePages.period)
            }
        }, nil)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Log.error("huge_page_keeper_failed", [("errno", String(started))])
        }
    }
}
