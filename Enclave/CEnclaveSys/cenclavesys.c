#define _GNU_SOURCE
#include <fcntl.h>
#include "cenclavesys.h"
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

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

int ss_set_pipe_size(int fd, int bytes) {
    return fcntl(fd, F_SETPIPE_SZ, bytes);
}
