#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/capability.h>
#include "cenclavesys.h"
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

int ss_set_parent_death_kill(void) { return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); }
int ss_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
int ss_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
int ss_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int ss_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }

int ss_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    return setrlimit(RLIMIT_CORE, &none);
}

int ss_private_network_namespace(void) {
    if (unshare(CLONE_NEWNET) == 0) return 0;
    return unshare(CLONE_NEWUSER | CLONE_NEWNET);
}

int ss_drop_capabilities(void) {
    int last = CAP_LAST_CAP;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
        fclose(f);
    }
    int failed = 0;
    // The bounding set first: dropping from it needs CAP_SETPCAP, held until the capset.
    for (int c = 0; c <= last; c++) {
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) failed = 1;
    }
    (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) failed = 1;
    return failed ? -1 : 0;
}

int ss_set_pipe_size(int fd, int bytes) {
    return fcntl(fd, F_SETPIPE_SZ, bytes);
}

long long ss_advise_huge_pages(unsigned long long min_bytes, int collapse) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    char line[512];
    long long advised = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long long start, end, offset, inode;
        char perms[8], dev[32];
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %31s %llu %n", &start, &end, perms, &offset, dev, &inode, &path_at) < 6) continue;
        // Private, readable and writable, not a file: the heap and anonymous mmaps.
        if (strcmp(perms, "rw-p") != 0 || inode != 0) continue;
        const char *path = line + path_at;
        if (path[0] != '\n' && path[0] != '\0' && strncmp(path, "[heap]", 6) != 0) continue;
        if (end - start < min_bytes) continue;
        if (madvise((void *)start, end - start, MADV_HUGEPAGE) != 0) continue;
        if (collapse) (void)madvise((void *)start, end - start, MADV_COLLAPSE);
        advised += (long long)(end - start);
    }
    fclose(maps);
    return advised;
}

int ss_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

int ss_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
