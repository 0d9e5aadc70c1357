/*
 * tt-access: a QEMU TCG plugin that records which guest-physical pages the guest reads and
 * writes. It keeps one byte per page in a file the capture driver maps too (normally in
 * /dev/shm): bit 0 = read, bit 1 = written. The driver reads and clears the map while the VM
 * is stopped (QMP `stop`), so no locking is needed; the VM has one vCPU.
 *
 * Arguments: map=PATH (created by the driver, `pages` bytes long), pages=N.
 *
 * Debian's QEMU 7.2 ships no plugin header, so the few API functions used are declared here,
 * exactly as QEMU's include/qemu/qemu-plugin.h (plugin API version 1) declares them.
 * Recorded: data loads and stores of instructions, after address translation. Not recorded:
 * instruction fetches, page-table walks by the MMU, device DMA (the capture VMs have no
 * DMA devices).
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

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint8_t *map;
static uint64_t pages;

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
}

static void on_uninstall(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (map != NULL) {
        munmap(map, pages);
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
        } else if (strncmp(argv[i], "pages=", 6) == 0) {
            pages = strtoull(argv[i] + 6, NULL, 10);
        } else {
            fprintf(stderr, "tt-access: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (path == NULL || pages == 0) {
        fprintf(stderr, "tt-access: needs map=PATH and pages=N\n");
        return -1;
    }
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        perror("tt-access: open map");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < pages) {
        fprintf(stderr, "tt-access: %s is shorter than %" PRIu64 " bytes\n", path, pages);
        close(fd);
        return -1;
    }
    map = mmap(NULL, pages, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        perror("tt-access: mmap");
        map = NULL;
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_uninstall, NULL);
    return 0;
}
