// Non-variadic wrappers for the Linux calls the client's load generator uses.
// prctl(2) is variadic, so Swift cannot call it directly.
#ifndef SEALSTREAM_CCLIENTSYS_H
#define SEALSTREAM_CCLIENTSYS_H

/// PR_SET_TIMERSLACK for the calling thread, in nanoseconds (1 = as exact as the kernel
/// allows; the default is 50 µs). Returns 0 or -1 (errno set).
int ss_set_timer_slack(unsigned long nanoseconds);

/// PR_SET_PDEATHSIG with SIGKILL: the calling process dies with its parent (the transport
/// floor's relay and echo, so an interrupted benchmark leaves nothing behind).
/// Returns 0 or -1 (errno set).
int ss_exit_with_parent(void);

#endif
