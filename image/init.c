/*
 * PID 1 of the Sealstream appliance image (docs/IMAGE.md §3).
 *
 * Mounts the kernel file systems, writes the boot report (the firmware's TCG event log
 * and the SHA-256 PCR values the guest kernel reads from the TPM) to the report port
 * /dev/ttyS1, then runs the enclave worker with its link on /dev/ttyS2 (stdin and
 * stdout, raw), its log on the console, and an empty environment. When the worker exits
 * the machine powers off. Nothing else runs in the image.
 *
 * Built static (no shared objects) by scripts/build-image.sh; the image's bytes, and so
 * PCRs 4, 9 and 11, cover this program.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define WORKER "/usr/bin/sealstream-enclave"
#define CONFIG "/etc/sealstream/venue.json"
#define EVENT_LOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define PCR_DIR "/sys/class/tpm/tpm0/pcr-sha256/"
#define REPORT_PORT "/dev/ttyS1"
#define LINK_PORT "/dev/ttyS2"
#define CONSOLE "/dev/ttyS0"
#define MAX_EVENT_LOG (1 << 20)

static void say(const char *what, const char *detail) {
    /* One JSON line per event on the console, the worker's log format. */
    dprintf(2, "{\"event\":\"%s\",\"detail\":\"%s\",\"errno\":%d}\n", what, detail, errno);
}

static void power_off(void) {
    sync();
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

static void mount_or_say(const char *src, const char *dst, const char *type, unsigned long flags) {
    mkdir(dst, 0755);
    if (mount(src, dst, type, flags, NULL) != 0 && errno != EBUSY) say("init_mount_failed", dst);
}

static int make_raw(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0) return -1;
    cfmakeraw(&t);
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    return tcsetattr(fd, TCSANOW, &t);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes "<tag> <hex of the file's bytes>\n"; a missing file writes "<tag> -\n". */
static void report_file(int out, const char *tag, const char *path, int hex) {
    static unsigned char buf[MAX_EVENT_LOG];
    static char line[2 * 4096 + 2];
    size_t total = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    dprintf(out, "%s ", tag);
    if (fd < 0) {
        write_all(out, "-\n", 2);
        return;
    }
    for (;;) {
        ssize_t r = read(fd, buf + total, sizeof buf - total);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        total += (size_t)r;
        if (total == sizeof buf) break;
    }
    close(fd);
    if (!hex) { /* sysfs PCR files are already hex text ending in LF */
        write_all(out, (const char *)buf, total);
        if (total == 0 || buf[total - 1] != '\n') write_all(out, "\n", 1);
        return;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < total; i += 4096) {
        size_t n = total - i < 4096 ? total - i : 4096, k = 0;
        for (size_t j = 0; j < n; j++) {
            line[k++] = digits[buf[i + j] >> 4];
            line[k++] = digits[buf[i + j] & 15];
        }
        write_all(out, line, k);
    }
    write_all(out, "\n", 1);
}

/* The boot report, docs/IMAGE.md §4: line-oriented ASCII, ends with "end". */
static void write_report(void) {
    int out = open(REPORT_PORT, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (out < 0) {
        say("init_no_report_port", REPORT_PORT);
        return;
    }
    make_raw(out);
    dprintf(out, "sealstream-boot-report 1\n");
    report_file(out, "eventlog", EVENT_LOG, 1);
    for (int i = 0; i < 24; i++) {
        char path[64], tag[16];
        snprintf(path, sizeof path, PCR_DIR "%d", i);
        snprintf(tag, sizeof tag, "pcr %d", i);
        report_file(out, tag, path, 0);
    }
    dprintf(out, "end\n");
    tcdrain(out);
    close(out);
}

int main(void) {
    mount_or_say("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
    int console = open(CONSOLE, O_RDWR | O_NOCTTY);
    if (console >= 0) {
        dup2(console, 1);
        dup2(console, 2);
        if (console > 2) close(console);
    }
    mount_or_say("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_say("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_say("securityfs", "/sys/kernel/security", "securityfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_say("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV);
    write_report();

    int link = open(LINK_PORT, O_RDWR | O_NOCTTY);
    if (link < 0 || make_raw(link) != 0) {
        say("init_no_link_port", LINK_PORT);
        power_off();
    }
    pid_t child = fork();
    if (child == 0) {
        setsid();
        dup2(link, 0);
        dup2(link, 1);
        if (link > 2) close(link);
        /* --storage-key-link: the host keeps the sealed key file (docs/DURABILITY.md §4.1). */
        char *const argv[] = {WORKER, "--config", CONFIG, "--attestation", "tpm", "--tcti", "device:/dev/tpmrm0",
                              "--isolation", "vm", "--storage-key-link", NULL};
        char *const envp[] = {NULL};
        execve(WORKER, argv, envp);
        say("init_exec_failed", WORKER);
        _exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t p = wait(&status);
        if (p == child) break;
        if (p < 0 && errno != EINTR) break;
    }
    dprintf(2, "{\"event\":\"init_worker_exited\",\"status\":%d}\n", status);
    power_off();
    return 0;
}
