/*
 * tt-access: a QEMU TCG plugin that records which guest-physical pages the guest reads,
 * writes and executes. It shares a file with the capture driver (normally in /dev/shm):
 *   - `pages` bytes, one per page: bit 0 = read, bit 1 = written (set by a callback on every
 *     load and store, after address translation);
 *   - then `pages` 64-bit counters, one per page, incremented inline (no callback) each time a
 *     translated block whose code lies in that page runs.
 * The driver reads and clears both while the VM is stopped (QMP `stop`), so no locking is
 * needed; the VM has one vCPU.
 *
 * Arguments: map=PATH (created by the driver, 9 × `pages` bytes long), pages=N, ram=PATH (the
 * guest RAM file, used to turn a block's host address into a guest-physical page).
 *
 * Debian's QEMU 7.2 ships no plugin header, so the few API functions used are declared here,
 * exactly as QEMU's include/qemu/qemu-plugin.h (plugin API version 1) declares them.
 * Not recorded: the MMU's page-table walks and device DMA (the capture VMs have no DMA
 * devices); code run from ROM (the BIOS) is outside guest RAM.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_hwaddr;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
extern void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                             enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                             void *userdata);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
extern bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
extern struct qemu_plugin_hwaddr *qemu_plugin_get_hwaddr(qemu_plugin_meminfo_t info, uint64_t vaddr);
extern bool qemu_plugin_hwaddr_is_io(const struct qemu_plugin_hwaddr *haddr);
extern uint64_t qemu_plugin_hwaddr_phys_addr(const struct qemu_plugin_hwaddr *haddr);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                                     void *ptr, uint64_t imm);
extern void *qemu_plugin_insn_haddr(const struct qemu_plugin_insn *insn);
extern size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint8_t *map;
static uint64_t *exec_count;
static uint64_t pages;
static const char *ram_path;
/* Where QEMU mapped the guest RAM file: host address range and the file offset at its start. */
static uintptr_t ram_start, ram_end, ram_offset;
static int ram_lookups;

/* Finds the RAM file's mapping in /proc/self/maps. QEMU maps it after loading plugins, so this
 * runs at the first translations, until found (or given up after many tries). */
static void find_ram(void)
{
    if (ram_end != 0 || ram_lookups > 1000) {
        return;
    }
    ram_lookups++;
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long start, end, offset;
        char path[4096];
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &start, &end, &offset, path) == 4 &&
            strcmp(path, ram_path) == 0 && end - start >= 4096) {
            ram_start = start;
            ram_end = end;
            ram_offset = offset;
            break;
        }
    }
    fclose(f);
}

/* The guest-physical page of a host address inside guest RAM, or -1. */
static int64_t page_of_host(const void *haddr)
{
    uintptr_t a = (uintptr_t)haddr;
    if (haddr == NULL || a < ram_start || a >= ram_end) {
        return -1;
    }
    uint64_t page = (a - ram_start + ram_offset) >> 12;
    return page < pages ? (int64_t)page : -1;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    (void)udata;
    struct qemu_plugin_hwaddr *hw = qemu_plugin_get_hwaddr(info, vaddr);
    if (hw == NULL || qemu_plugin_hwaddr_is_io(hw)) {
        return;
    }
    uint64_t page = qemu_plugin_hwaddr_phys_addr(hw) >> 12;
    if (page < pages) {
        map[page] |= qemu_plugin_mem_is_store(info) ? 2 : 1;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_mem,
                                         QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
    }
    if (n == 0) {
        return;
    }
    find_ram();
    /* A block's code lies in one page, or runs over into the next: count both. */
    struct qemu_plugin_insn *first = qemu_plugin_tb_get_insn(tb, 0);
    struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
    int64_t p1 = page_of_host(qemu_plugin_insn_haddr(first));
    const uint8_t *end = (const uint8_t *)qemu_plugin_insn_haddr(last);
    int64_t p2 = end == NULL ? -1 : page_of_host(end + qemu_plugin_insn_size(last) - 1);
    if (p1 >= 0) {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &exec_count[p1], 1);
    }
    if (p2 >= 0 && p2 != p1) {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &exec_count[p2], 1);
    }
}

static void on_uninstall(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (map != NULL) {
        munmap(map, pages * 9);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "map=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strncmp(argv[i], "ram=", 4) == 0) {
            ram_path = argv[i] + 4;
        } else if (strncmp(argv[i], "pages=", 6) == 0) {
            pages = strtoull(argv[i] + 6, NULL, 10);
        } else {
            fprintf(stderr, "tt-access: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (path == NULL || ram_path == NULL || pages == 0 || pages % 8 != 0) {
        fprintf(stderr, "tt-access: needs map=PATH, ram=PATH and pages=N (a multiple of 8)\n");
        return -1;
    }
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        perror("tt-access: open map");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < pages * 9) {
        fprintf(stderr, "tt-access: %s is shorter than %" PRIu64 " bytes\n", path, pages * 9);
        close(fd);
        return -1;
    }
    map = mmap(NULL, pages * 9, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        perror("tt-access: mmap");
        map = NULL;
        return -1;
    }
    exec_count = (uint64_t *)(map + pages);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_uninstall, NULL);
    return 0;
}
