#define _GNU_SOURCE
#include "chostsys.h"
#include <fcntl.h>
#include <sys/prctl.h>

int ss_write_back_range(int fd, long long offset, long long bytes) {
    return sync_file_range(fd, (off_t)offset, (off_t)bytes,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

int ss_host_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
