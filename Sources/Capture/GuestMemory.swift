#if canImport(Glibc)
import Glibc
#endif
import CXXHash
import CZstd
import TraceFormat

/// A capture VM's RAM file and access map, both mapped shared from /dev/shm, and the content
/// hash of every page at the previous snapshot. Read only while the VM is stopped.
///
/// The map is what the tt-access plugin writes: `pages` bytes (bit 0 read, bit 1 written), then
/// `pages` little-endian 64-bit counts of blocks executed from each page.
final class GuestMemory {
    static let pageSize = 4096
    let ramPath: String
    let mapPath: String
    let pages: Int
    private let ram: UnsafeRawPointer
    private let map: UnsafeMutablePointer<UInt8>
    private let executed: UnsafeMutablePointer<UInt64>
    /// Bytes of the map file.
    static func mapBytes(pages: Int) -> Int { pages * 9 }
    /// The content hash of each page at the last snapshot; 0 for an all-zero page.
    private(set) var hashes: [UInt64]
    /// Measures each content record's compressed size (libzstd, level 1).
    private let compressor = PageCompressor()
    /// The pages of the current snapshot whose content is recorded, in page order.
    private var changedPages: [UInt32] = []
    /// Pages whose content changed with no store the plugin saw (recorded as writes), so far.
    private(set) var unseenWrites = 0
    /// Pages that were not all zero at the last snapshot.
    private(set) var nonZeroPages = 0

    /// Creates both files (RAM zero-filled, sparse) and maps them.
    init(ramPath: String, mapPath: String, pages: Int) throws(CaptureError) {
        self.ramPath = ramPath
        self.mapPath = mapPath
        self.pages = pages
        hashes = Array(repeating: 0, count: pages)
        let ramBytes = pages * Self.pageSize
        func create(_ path: String, _ size: Int) throws(CaptureError) -> Int32 {
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw CaptureError("\(path): \(String(cString: strerror(errno)))") }
            guard ftruncate(fd, off_t(size)) == 0 else {
                let e = String(cString: strerror(errno))
                close(fd)
                throw CaptureError("\(path): cannot size to \(size) bytes: \(e)")
            }
            return fd
        }
        let rfd = try create(ramPath, ramBytes)
        defer { close(rfd) }
        let mfd: Int32
        do { mfd = try create(mapPath, Self.mapBytes(pages: pages)) } catch {
            unlink(ramPath)
            throw error
        }
        defer { close(mfd) }
        guard let r = mmap(nil, ramBytes, PROT_READ, MAP_SHARED, rfd, 0), r != MAP_FAILED else {
            unlink(ramPath); unlink(mapPath)
            throw CaptureError("\(ramPath): mmap: \(String(cString: strerror(errno)))")
        }
        guard let m = mmap(nil, Self.mapBytes(pages: pages), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0),
            m != MAP_FAILED
        else {
            munmap(r, ramBytes)
            unlink(ramPath); unlink(mapPath)
            throw CaptureError("\(mapPath): mmap: \(String(cString: strerror(errno)))")
        }
        ram = UnsafeRawPointer(r)
        map = m.assumingMemoryBound(to: UInt8.self)
        executed = (m + pages).assumingMemoryBound(to: UInt64.self)
    }

    /// Unmaps and deletes both files.
    func remove() {
        munmap(UnsafeMutableRawPointer(mutating: ram), pages * Self.pageSize)
        munmap(map, Self.mapBytes(pages: pages))
        unlink(ramPath)
        unlink(mapPath)
    }

    /// Pages that are not all zero now (read while the VM may run: a count, not a snapshot).
    func countNonZeroPages() -> Int {
        (0..<pages).reduce(0) { $0 + (Self.isZero(ram + $1 * Self.pageSize) ? 0 : 1) }
    }

    /// Whether every byte of the page is zero.
    static func isZero(_ page: UnsafeRawPointer) -> Bool {
        let words = page.assumingMemoryBound(to: UInt64.self)
        var i = 0
        while i < pageSize / 8 && words[i] == 0 { i += 1 }
        return i == pageSize / 8
    }

    /// The 64-bit XXH3 of one page; 0 means all zero (a non-zero page whose hash is 0 gets 1).
    static func hash(_ page: UnsafeRawPointer) -> UInt64 {
        if isZero(page) { return 0 }
        let h = XXH3_64bits(page, pageSize)
        return h == 0 ? 1 : h
    }

    /// Appends the interval's accesses (from the plugin's map, which it then clears) and the
    /// pages' contents, all stamped `time`.
    /// Accesses: runs of consecutive pages, `W` for pages written, `R` for pages only read or
    /// executed. A page whose content changed with no store the plugin saw was written by
    /// something else — a device's DMA (a disk read into the page cache), the MMU setting
    /// accessed and dirty bits in a page table, the firmware loading the kernel — and is
    /// recorded as written too (`unseenWrites` counts them): the host had to back it, and a
    /// shared copy of it could not have stayed shared.
    /// Content: for every page whose content changed since the last snapshot *or* that was
    /// written in the interval, `C` with its hash, or `Z` (in runs) when it is all zero. A write
    /// that left a page as it was is reported too, because a replay treats a written page's
    /// content as unknown until the next content record.
    @discardableResult
    func snapshot(vm: VMID, time: Micros, into out: inout [TraceRecord]) -> (accessed: Int, changed: Int) {
        // Executed pages count as read.
        for i in 0..<pages where executed[i] != 0 { map[i] |= 1 }
        // Hash every page first: a content change with no store becomes a write.
        changedPages.removeAll(keepingCapacity: true)
        var nonZero = 0
        hashes.withUnsafeMutableBufferPointer { hs in
            for i in 0..<pages {
                let h = Self.hash(ram + i * Self.pageSize)
                if h != 0 { nonZero += 1 }
                if h == hs[i] && map[i] & 2 == 0 { continue }
                if h != hs[i] && map[i] & 2 == 0 {
                    map[i] |= 2
                    unseenWrites += 1
                }
                hs[i] = h
                changedPages.append(UInt32(i))
            }
        }
        nonZeroPages = nonZero
        var accessed = 0
        var p = 0
        while p < pages {
            let b = map[p]
            if b == 0 { p += 1; continue }
            let write = b & 2 != 0
            var q = p + 1
            while q < pages, map[q] != 0, (map[q] & 2 != 0) == write { q += 1 }
            out.append(
                TraceRecord(time: time, vm: vm, kind: write ? .write : .read, ppn: PPN(UInt32(p)), count: UInt32(q - p))
            )
            accessed += q - p
            p = q
        }
        appendContent(
            time: time, vm: vm, pages: changedPages, hash: { hashes[Int($0)] },
            size: { compressor.size(ram + Int($0) * Self.pageSize, Self.pageSize) }, into: &out)
        memset(map, 0, Self.mapBytes(pages: pages))
        return (accessed, changedPages.count)
    }
}

/// Appends a snapshot's content records: for each page of `pages` (in page order), `C` with its
/// hash and compressed size, or `Z` in runs of consecutive pages that are zero. Both capture
/// modes write their content this way.
func appendContent(
    time: Micros, vm: VMID, pages: [UInt32], hash: (UInt32) -> UInt64, size: (UInt32) -> UInt32,
    into out: inout [TraceRecord]
) {
    var zeroStart: UInt32 = 0, zeroEnd: UInt32 = 0
    func flushZeros() {
        if zeroEnd > zeroStart {
            out.append(TraceRecord(time: time, vm: vm, kind: .zero, ppn: PPN(zeroStart), count: zeroEnd - zeroStart))
        }
        zeroStart = 0
        zeroEnd = 0
    }
    for p in pages {
        let h = hash(p)
        if h == 0 {
            if zeroEnd > zeroStart && zeroEnd == p {
                zeroEnd = p + 1
            } else {
                flushZeros()
                zeroStart = p
                zeroEnd = p + 1
            }
        } else {
            flushZeros()
            out.append(
                TraceRecord(
                    time: time, vm: vm, kind: .content, ppn: PPN(p), hash: ContentHash(h), compressedSize: size(p)))
        }
    }
    flushZeros()
}

/// The compressed size of a page, as ESX's compression cache would see it: libzstd at level 1
/// (fast, the level meant for this), one page at a time. A page that does not shrink counts as
/// its own size (what a cache would store it as: not compressed).
final class PageCompressor {
    static let name = "zstd-1"
    private let cctx: OpaquePointer
    private var out: [UInt8]

    init() {
        cctx = ZSTD_createCCtx()
        out = [UInt8](repeating: 0, count: ZSTD_compressBound(1 << 16))
    }

    deinit { ZSTD_freeCCtx(cctx) }

    func size(_ page: UnsafeRawPointer, _ bytes: Int) -> UInt32 {
        if out.count < ZSTD_compressBound(bytes) { out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes)) }
        let n = out.withUnsafeMutableBytes { ZSTD_compressCCtx(cctx, $0.baseAddress, $0.count, page, bytes, 1) }
        guard ZSTD_isError(n) == 0 else { return UInt32(bytes) }
        return UInt32(min(n, bytes))
    }
}
