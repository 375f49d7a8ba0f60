/*
 * PID 1 of the Sealstream appliance image (docs/IMAGE.md §3).
 *
 * Mounts the kernel file systems, writes the boot report (the firmware's TCG event log
 * and the SHA-256 PCR values the guest kernel reads from the TPM) to the report port
 * /dev/ttyS1, loads the virtio modules from the initramfs, finds the two virtio-serial
 * ports of the link (org.sealstream.link.in, host to worker, as the worker's stdin;
 * org.sealstream.link.out, worker to host, as its stdout; org.sealstream.snapshots, worker
 * to host, as its fd 3 for sealed snapshots) and runs the enclave worker with its log on
 * the console and an empty environment. When the worker exits (or the
 * link cannot be had) the machine powers off. Nothing else runs in the image.
 *
 * Built static (no shared objects) by scripts/build-image.sh; the image's bytes, and so
 * PCRs 4, 9 and 11, cover this program.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define WORKER "/usr/bin/sealstream-enclave"
#define CONFIG "/etc/sealstream/venue.json"
#define EVENT_LOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define PCR_DIR "/sys/class/tpm/tpm0/pcr-sha256/"
#define REPORT_PORT "/dev/ttyS1"
#define CONSOLE "/dev/ttyS0"
#define MAX_EVENT_LOG (1 << 20)
/* The link: two virtio-serial ports with these names (qemu `-device virtserialport,name=`),
 * one a direction, so that the host closing its side (end of file on the worker's stdin)
 * leaves the worker's stdout open for its last batch, as a pipe pair does. */
#define LINK_IN "org.sealstream.link.in"
#define LINK_OUT "org.sealstream.link.out"
/* The worker's sealed snapshots (docs/DURABILITY.md §6.6) go out on this port as fd 3. */
#define SNAPSHOT_PORT "org.sealstream.snapshots"
#define PORT_CLASS "/sys/class/virtio-ports"
/* How long init waits for the port to appear and the host side to be connected, in ms. */
#define LINK_WAIT_MS 60000
/* The kernel's modules, under /usr/lib/modules/<release>/, in load order (dependencies
 * first). The cloud kernel builds virtio as modules; nothing else is loaded. */
#define MODULE_ROOT "/usr/lib/modules/"
static const char *const MODULES[] = {
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/drivers/char/virtio_console.ko",
};

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

/* Loads MODULES with finit_module(2); a module already there is fine. 0, or -1 said. */
static int load_modules(void) {
    struct utsname u;
    if (uname(&u) != 0) {
        say("init_no_uname", "");
        return -1;
    }
    for (size_t i = 0; i < sizeof MODULES / sizeof MODULES[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, MODULE_ROOT "%s/%s", u.release, MODULES[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            say("init_module_missing", path);
            return -1;
        }
        long r = syscall(SYS_finit_module, fd, "", 0);
        close(fd);
        if (r != 0 && errno != EEXIST) {
            say("init_module_failed", path);
            return -1;
        }
    }
    return 0;
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

/* Reads a small sysfs file into buf (NUL-terminated, trailing LF removed). 0 or -1. */
static int read_small(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    return 0;
}

/* Opens the port called `name`: /sys/class/virtio-ports/vportNpM/name, its device
 * /dev/vportNpM (made from .../dev's numbers when devtmpfs has not made it). -1 if the
 * port is not there (yet). */
static int open_named_port(const char *name) {
    DIR *d = opendir(PORT_CLASS);
    if (!d) return -1;
    int fd = -1;
    struct dirent *e;
    while (fd < 0 && (e = readdir(d)) != NULL) {
        char path[300], value[128], dev[300];
        if (strncmp(e->d_name, "vport", 5) != 0) continue;
        snprintf(path, sizeof path, PORT_CLASS "/%s/name", e->d_name);
        if (read_small(path, value, sizeof value) != 0 || strcmp(value, name) != 0) continue;
        snprintf(dev, sizeof dev, "/dev/%s", e->d_name);
        fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            unsigned major_number, minor_number;
            snprintf(path, sizeof path, PORT_CLASS "/%s/dev", e->d_name);
            if (read_small(path, value, sizeof value) == 0 &&
                sscanf(value, "%u:%u", &major_number, &minor_number) == 2 &&
                mknod(dev, S_IFCHR | 0600, makedev(major_number, minor_number)) == 0)
                fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
        }
        if (fd < 0) say("init_link_open_failed", dev);
    }
    closedir(d);
    return fd;
}

/* A link port, once the host side is connected: poll(2) on a virtio port says POLLHUP
 * while the host end is closed, and a read then returns end of file, which the worker
 * would take for the host closing the link. -1 when not so by `deadline` (CLOCK_MONOTONIC
 * ms). */
static int open_link(const char *name, long deadline) {
    int fd = -1;
    while (fd < 0) {
        fd = open_named_port(name);
        if (fd >= 0) break;
        if (now_ms() > deadline) return -1;
        sleep_ms(10);
    }
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 100) > 0 && (p.revents & POLLOUT) && !(p.revents & POLLHUP)) return fd;
        if (now_ms() > deadline) break;
        sleep_ms(10);
    }
    close(fd);
    errno = ENOTCONN;
    return -1;
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

    if (load_modules() != 0) power_off();
    long deadline = now_ms() + LINK_WAIT_MS;
    int link_in = open_link(LINK_IN, deadline);
    if (link_in < 0) {
        say("init_no_link_port", LINK_IN);
        power_off();
    }
    int link_out = open_link(LINK_OUT, deadline);
    if (link_out < 0) {
        say("init_no_link_port", LINK_OUT);
        power_off();
    }
    int snapshot_port = open_link(SNAPSHOT_PORT, deadline);
    if (snapshot_port < 0) {
        say("init_no_link_port", SNAPSHOT_PORT);
        power_off();
    }
    pid_t child = fork();
    if (child == 0) {
        setsid();
        /* dup2 clears O_CLOEXEC on the copies; the originals close at exec. */
        dup2(link_in, 0);
        dup2(link_out, 1);
        if (snapshot_port == 3)
            fcntl(3, F_SETFD, 0);
        else
            dup2(snapshot_port, 3);
        /* --storage-key-link: the host keeps the sealed key file (docs/DURABILITY.md §4.1). */
        /* Snapshots every 10,000 events or 60 s of enclave time: replay over the link runs at
         * thousands of records a second under TCG, not the process worker's hundreds of
         * thousands, so the image's cadence is far above the worker's defaults. */
        char *const argv[] = {WORKER, "--config", CONFIG, "--attestation", "tpm", "--tcti", "device:/dev/tpmrm0",
                              "--isolation", "vm", "--storage-key-link", "--snapshot-fd", "3",
                              "--snapshot-every-events", "10000", "--snapshot-every-nanos", "60000000000", NULL};
        char *const envp[] = {NULL};
        execve(WORKER, argv, envp);
        say("init_exec_failed", WORKER);
        _exit(127);
    }
    close(link_in); /* the worker alone holds the link */
    close(link_out);
    close(snapshot_port);
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
