// Thin, non-variadic wrappers for the Linux calls the enclave uses to confine itself.
// prctl(2) is variadic and unshare(2) needs _GNU_SOURCE, so Swift cannot call them directly.
#ifndef SEALSTREAM_CENCLAVESYS_H
#define SEALSTREAM_CENCLAVESYS_H

/// PR_SET_PDEATHSIG with SIGKILL. Returns 0 or -1 (errno set).
int ss_set_parent_death_kill(void);
/// PR_SET_DUMPABLE 0.
int ss_set_not_dumpable(void);
/// PR_GET_DUMPABLE: 1 dumpable, 0 not, -1 error.
int ss_get_dumpable(void);
/// PR_SET_NO_NEW_PRIVS 1.
int ss_set_no_new_privs(void);
/// PR_GET_NO_NEW_PRIVS.
int ss_get_no_new_privs(void);
/// RLIMIT_CORE 0/0.
int ss_disable_core_dumps(void);
/// unshare(CLONE_NEWNET), falling back to CLONE_NEWUSER|CLONE_NEWNET. 0 on success.
int ss_private_network_namespace(void);
/// Drops every capability: the bounding set (where held), the ambient set, and the
/// effective, permitted and inheritable sets. 0 when every step succeeded, else -1 (a
/// bounding-set capability could not be dropped without CAP_SETPCAP; the other sets are
/// still emptied).
int ss_drop_capabilities(void);
/// F_SETPIPE_SZ on `fd` (fcntl is variadic and F_SETPIPE_SZ needs _GNU_SOURCE).
/// Returns the new capacity in bytes, or -1 (errno set).
int ss_set_pipe_size(int fd, int bytes);
/// Asks for transparent huge pages on the worker's large allocations, the equivalent of
/// glibc's `glibc.malloc.hugetlb=1` that the worker does itself (docs/DURABILITY.md §6.6):
/// madvise(MADV_HUGEPAGE) on every private anonymous writable mapping (the heap and
/// malloc's own large mmaps) of at least `min_bytes`, and with `collapse` != 0 also
/// madvise(MADV_COLLAPSE) (Linux >= 6.1), which backs their present pages with huge pages
/// now instead of when khugepaged gets to them. Whole mappings only (no split). Returns
/// the bytes of the mappings advised, or -1 (errno set) when /proc/self/maps cannot be
/// read; a refused madvise (THP `never`, an old kernel) is skipped.
long long ss_advise_huge_pages(unsigned long long min_bytes, int collapse);
/// Sets the calling thread's nice value (setpriority on its thread id): Linux keeps nice
/// per thread. Returns 0 or -1 (errno set).
int ss_set_thread_nice(int nice);
/// Names the calling thread (prctl(PR_SET_NAME): the kernel keeps the first 15 bytes), as
/// `top -H`, `perf` and /proc/PID/task/TID/comm show it. Returns 0 or -1 (errno set).
int ss_set_thread_name(const char *name);

#endif
