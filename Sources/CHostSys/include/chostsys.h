// Wrappers for the GNU-only Linux calls the host uses, which the Glibc module does not
// import (they are declared under _GNU_SOURCE).
#ifndef SEALSTREAM_CHOSTSYS_H
#define SEALSTREAM_CHOSTSYS_H

/// sync_file_range(2) of [offset, offset + bytes) with SYNC_FILE_RANGE_WAIT_BEFORE |
/// SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER: writes the range's dirty pages to the
/// device and waits for them (data only: no metadata, no device cache flush).
/// Returns 0 or -1 (errno set).
int ss_write_back_range(int fd, long long offset, long long bytes);

/// Names the calling thread (prctl(PR_SET_NAME): the kernel keeps the first 15 bytes), as
/// `top -H`, `perf` and /proc/PID/task/TID/comm show it. Returns 0 or -1 (errno set).
int ss_host_set_thread_name(const char *name);

#endif
