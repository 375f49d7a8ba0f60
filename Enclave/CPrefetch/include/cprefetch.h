#ifndef CPREFETCH_H
#define CPREFETCH_H

/// A hint to bring the cache line at `address` in ahead of a write (issue 17: the
/// sequencer's dedupe probe of a request the lanes opened a few requests ahead). Never
/// faults, whatever the address: a hint the CPU may drop, with no effect on any result.
static inline void cprefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
