/*
 * ttguest: the workloads a capture VM runs, as one static program in the guest's initramfs.
 *
 *   ttguest WORKLOAD SEED [SCHEDULE]
 *
 * WORKLOAD is idle, fileio, sort, toucher or mixed. Every choice comes from a PRNG seeded with
 * SEED, so the same workload and seed make the same sequence of operations. Durations are the
 * guest's own clock (CLOCK_MONOTONIC), which under QEMU's -icount is a function of the
 * instructions executed, so the guest's behaviour does not depend on the host's speed.
 *
 * SCHEDULE (toucher and mixed): comma-separated MIB:SECONDS phases, repeated in a cycle; the
 * default is 10%, 40%, 20% and 5% of the guest's memory for 20 s each.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t rng_state;

static uint64_t next_u64(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return n == 0 ? 0 : next_u64() % n; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(unsigned ms) { usleep(ms * 1000u); }

static uint64_t mem_total_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long kib = 0;
    if (f != NULL) {
        if (fscanf(f, "MemTotal: %lu kB", &kib) != 1) {
            kib = 0;
        }
        fclose(f);
    }
    return kib / 1024;
}

/* Eight fixed "template" pages (text-like content that recurs across pages, files and VMs). */
static uint8_t templates[8][PAGE];

static void make_templates(void)
{
    uint64_t saved = rng_state;
    rng_state = 0x7465787470616765ULL; /* the same in every VM, whatever its seed */
    for (int t = 0; t < 8; t++) {
        for (int i = 0; i < PAGE; i++) {
            templates[t][i] = (uint8_t)(' ' + below(95));
        }
    }
    rng_state = saved;
}

/* Fills one page: about a quarter zero, a quarter template copies, the rest unique. */
static void fill_page(uint8_t *p)
{
    uint64_t kind = below(4);
    if (kind == 0) {
        memset(p, 0, PAGE);
    } else if (kind == 1) {
        memcpy(p, templates[below(8)], PAGE);
    } else {
        uint64_t *w = (uint64_t *)p;
        for (int i = 0; i < PAGE / 8; i++) {
            w[i] = next_u64();
        }
    }
}

/* ---- toucher ---------------------------------------------------------------------------- */

struct phase {
    uint64_t mib;
    double seconds;
};

static int parse_schedule(const char *s, struct phase *out, int max)
{
    int n = 0;
    while (s != NULL && *s != '\0' && n < max) {
        char *end;
        unsigned long long mib = strtoull(s, &end, 10);
        if (*end != ':') {
            return -1;
        }
        double secs = strtod(end + 1, &end);
        if (mib == 0 || secs <= 0) {
            return -1;
        }
        out[n].mib = mib;
        out[n].seconds = secs;
        n++;
        s = (*end == ',') ? end + 1 : NULL;
        if (*end != ',' && *end != '\0') {
            return -1;
        }
    }
    return n;
}

static void touch_phase(struct phase ph)
{
    size_t npages = (size_t)ph.mib * 256;
    uint8_t *region = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
        printf("ttguest: toucher could not map %llu MiB\n", (unsigned long long)ph.mib);
        nap_ms(1000);
        return;
    }
    for (size_t i = 0; i < npages; i++) {
        fill_page(region + i * PAGE);
    }
    double end = now_s() + ph.seconds;
    volatile uint64_t sink = 0;
    while (now_s() < end) {
        for (size_t i = 0; i < npages; i++) {
            sink += region[i * PAGE + (i & 63)];
        }
        size_t writes = npages / 20 + 1;
        for (size_t k = 0; k < writes; k++) {
            fill_page(region + below(npages) * PAGE);
        }
        nap_ms(100);
    }
    munmap(region, npages * PAGE);
    printf("ttguest: toucher phase %llu MiB done at %.1f s\n", (unsigned long long)ph.mib, now_s());
}

/* ---- sort ------------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void sort_round(uint64_t max_mib)
{
    size_t mib = 4 + below(max_mib > 8 ? max_mib - 4 : 4);
    size_t n = mib * 262144;
    uint32_t *a = malloc(n * sizeof *a);
    if (a == NULL) {
        nap_ms(1000);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = (uint32_t)next_u64();
    }
    qsort(a, n, sizeof *a, cmp_u32);
    int fd = open("/tmp/sorted.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t bytes = n * sizeof *a / 4; /* the smallest quarter, as an output file */
        if (write(fd, a, bytes) < 0) {
            perror("ttguest: write");
        }
        close(fd);
    }
    free(a);
    printf("ttguest: sorted %zu MiB at %.1f s\n", mib, now_s());
    nap_ms(500);
}

/* ---- fileio ----------------------------------------------------------------------------- */

#define MAXFILES 64
static uint64_t file_bytes[MAXFILES];
static uint64_t files_total;

static void file_name(char *buf, size_t len, int i) { snprintf(buf, len, "/tmp/tt/f%02d", i); }

static void fileio_ops(int ops, uint64_t cap_bytes)
{
    static uint8_t page[PAGE];
    char name[64], other[64];
    for (int op = 0; op < ops; op++) {
        int i = (int)below(MAXFILES);
        uint64_t what = below(10);
        file_name(name, sizeof name, i);
        if (what < 4 || file_bytes[i] == 0) {
            /* write a new file: 64 KiB to 4 MiB */
            uint64_t pagesz = 16 + below(1008);
            if (files_total + pagesz * PAGE > cap_bytes) {
                for (int j = 0; j < MAXFILES && files_total + pagesz * PAGE > cap_bytes; j++) {
                    if (file_bytes[j] != 0) {
                        file_name(other, sizeof other, j);
                        unlink(other);
                        files_total -= file_bytes[j];
                        file_bytes[j] = 0;
                    }
                }
            }
            int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) {
                continue;
            }
            files_total -= file_bytes[i];
            for (uint64_t k = 0; k < pagesz; k++) {
                fill_page(page);
                if (write(fd, page, PAGE) != PAGE) {
                    break;
                }
            }
            close(fd);
            file_bytes[i] = pagesz * PAGE;
            files_total += file_bytes[i];
        } else if (what < 6) {
            /* copy it: the copy's pages duplicate the original's */
            int j = (int)below(MAXFILES);
            if (j == i || file_bytes[i] + files_total > cap_bytes) {
                continue;
            }
            file_name(other, sizeof other, j);
            int in = open(name, O_RDONLY), out = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (in >= 0 && out >= 0) {
                ssize_t got;
                while ((got = read(in, page, PAGE)) > 0) {
                    if (write(out, page, (size_t)got) != got) {
                        break;
                    }
                }
                files_total -= file_bytes[j];
                file_bytes[j] = file_bytes[i];
                files_total += file_bytes[j];
            }
            if (in >= 0) close(in);
            if (out >= 0) close(out);
        } else if (what < 9) {
            /* read it back */
            int fd = open(name, O_RDONLY);
            volatile uint64_t sink = 0;
            if (fd >= 0) {
                while (read(fd, page, PAGE) > 0) {
                    sink += page[0];
                }
                close(fd);
            }
        } else {
            unlink(name);
            files_total -= file_bytes[i];
            file_bytes[i] = 0;
        }
        nap_ms(20);
    }
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ttguest idle|fileio|sort|toucher|mixed SEED [MIB:SECONDS,...]\n");
        return 2;
    }
    const char *workload = argv[1];
    rng_state = strtoull(argv[2], NULL, 10) * 0x2545f4914f6cdd1dULL + 1;
    make_templates();
    setvbuf(stdout, NULL, _IONBF, 0);

    uint64_t total = mem_total_mib();
    struct phase sched[32];
    int nphases;
    if (argc > 3) {
        nphases = parse_schedule(argv[3], sched, 32);
        if (nphases <= 0) {
            fprintf(stderr, "ttguest: bad schedule %s (want MIB:SECONDS,...)\n", argv[3]);
            return 2;
        }
    } else {
        uint64_t pct[4] = {10, 40, 20, 5};
        for (int i = 0; i < 4; i++) {
            sched[i].mib = total * pct[i] / 100 > 0 ? total * pct[i] / 100 : 1;
            sched[i].seconds = 20;
        }
        nphases = 4;
    }
    mkdir("/tmp/tt", 0755);
    uint64_t cap = total * 1024 * 1024 / 4;
    printf("ttguest: %s seed %s, %llu MiB\n", workload, argv[2], (unsigned long long)total);

    if (strcmp(workload, "idle") == 0) {
        for (;;) {
            pause();
        }
    } else if (strcmp(workload, "fileio") == 0) {
        for (;;) {
            fileio_ops(50, cap);
            printf("ttguest: 50 file operations done at %.1f s, %llu MiB in files\n", now_s(),
                   (unsigned long long)(files_total >> 20));
            nap_ms(200);
        }
    } else if (strcmp(workload, "sort") == 0) {
        for (;;) {
            sort_round(total / 8);
        }
    } else if (strcmp(workload, "toucher") == 0) {
        for (int p = 0;; p = (p + 1) % nphases) {
            touch_phase(sched[p]);
        }
    } else if (strcmp(workload, "mixed") == 0) {
        for (int p = 0;; p = (p + 1) % nphases) {
            touch_phase(sched[p]);
            sort_round(total / 16);
            fileio_ops(30, cap / 2);
            nap_ms(2000);
        }
    }
    fprintf(stderr, "ttguest: unknown workload %s\n", workload);
    return 2;
}
