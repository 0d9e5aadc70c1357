/// The compression cache (docs/MODEL.md "Compression cache"), as ESX 4.1 and later keep one
/// per VM in front of host swap: a page the host pages out is compressed first, and if it
/// compresses to at most `compressionThreshold` of a page it stays in memory, compressed,
/// instead of going to disk. A later access decompresses it.
///
/// Contract:
/// - A page's compressed size is the last one the trace gave for its content (a content record
///   of format version 2); a zero page (Z record, demand-zero fill) takes `zeroPageBytes`; a
///   page whose content never came with a size is incompressible (and counted as such).
/// - The cache holds compressed bytes up to `compressionCache` × the VM's max pages × the page
///   size; it occupies ⌈bytes / page size⌉ machine pages, allocated and released as it grows
///   and shrinks (the victim's page is released first, so compressing never needs more memory
///   than it frees).
/// - When a compressible page does not fit, the oldest compressed pages are written to swap
///   (each a swap-out) until it does.
/// - A compressed page that the guest gives to its balloon is decompressed first (double
///   paging, as for a swapped page); one that free page reporting hands back is dropped.
struct CompressionCache {
    /// What zstd at level 1 makes of 4 KiB of zeros (frame header and one RLE block).
    static let zeroPageBytes: UInt32 = 18

    let pageBytes: UInt64
    /// Bytes the cache may hold, and the largest compressed page it takes.
    let capacityBytes: UInt64
    let maxPageBytes: UInt64
    /// Compressed bytes held, and the machine pages holding them (a stack).
    var usedBytes: UInt64 = 0
    var mpns: [MPN] = []
    /// Pages compressed now.
    var pages: UInt64 = 0
    /// Compression order: (PPN, sequence) with stale entries (the page left the cache, or
    /// was compressed again later) skipped when met; compacted when mostly stale.
    var queue: [(ppn: UInt32, seq: UInt32)] = []
    var head = 0
    var nextSeq: UInt32 = 0
    /// The most machine pages the cache held at once.
    var peakPages: UInt64 = 0

    init(pageBytes: UInt64, maxPages: UInt64, fraction: Double, threshold: Double) {
        self.pageBytes = pageBytes
        capacityBytes = UInt64((Double(maxPages) * fraction).rounded(.down)) * pageBytes
        maxPageBytes = UInt64((Double(pageBytes) * threshold).rounded(.down))
    }

    /// Machine pages `bytes` of compressed data occupy.
    func pagesFor(_ bytes: UInt64) -> Int { Int((bytes + pageBytes - 1) / pageBytes) }

    /// The sequence number for the next compressed page (29 bits, the pmap entry's payload).
    mutating func takeSeq() -> UInt32 {
        let s = nextSeq
        nextSeq = (nextSeq + 1) & PageState.payloadMask
        return s
    }

    /// Drops stale queue entries once they are most of it (`isCurrent` says which are not).
    mutating func compact(_ isCurrent: ((ppn: UInt32, seq: UInt32)) -> Bool) {
        guard queue.count - head > 2 * Int(pages) + 64 else { return }
        queue = queue[head...].filter(isCurrent)
        head = 0
    }
}

extension ReplayEngine {
    // MARK: the compression cache

    /// Tries to compress victim `p` of `vm` (private, not shared) into the VM's cache. True if
    /// it is now compressed; false if it must be swapped (incompressible, unknown size, or
    /// too big for the cache even empty).
    func compressOut(_ vm: VMState, _ p: UInt32) throws(ReplayError) -> Bool {
        let i = Int(p)
        let size = UInt64(vm.compressedSize![i])
        guard size > 0 else {
            vm.counters.compressionUnknown += 1
            return false
        }
        guard size <= vm.cache!.maxPageBytes, size <= vm.cache!.capacityBytes else {
            vm.counters.compressionIncompressible += 1
            return false
        }
        // Make room: the oldest compressed pages go to swap.
        while vm.cache!.usedBytes + size > vm.cache!.capacityBytes {
            guard try evictOldest(vm) else { break }
        }
        guard vm.cache!.usedBytes + size <= vm.cache!.capacityBytes else { return false }
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: p) }
        releaseResident(vm, ppn: p, vm.entry[i])
        let seq = vm.cache!.takeSeq()
        vm.entry[i] = PageState.entry(compressed: seq)
        vm.cache!.queue.append((p, seq))
        vm.cache!.pages += 1
        try growCache(vm, by: size)
        vm.counters.compressedOut += 1
        invalidateShadow(vm, ppn: p)
        vm.cache!.compact { [vm] e in PageState.isCompressed(vm.entry[Int(e.ppn)], seq: e.seq) }
        return true
    }

    /// Writes the VM's oldest compressed page to swap; false when none is left.
    func evictOldest(_ vm: VMState) throws(ReplayError) -> Bool {
        while vm.cache!.head < vm.cache!.queue.count {
            let e = vm.cache!.queue[vm.cache!.head]
            vm.cache!.head += 1
            guard PageState.isCompressed(vm.entry[Int(e.ppn)], seq: e.seq) else { continue }
            let slot = try takeSwapSlot(vm, "write VM \(vm.config.id)'s compressed pages out")
            leaveCache(vm, e.ppn)
            markSwapped(vm, e.ppn, slot)
            vm.counters.compressionEvictions += 1
            return true
        }
        return false
    }

    /// Takes compressed PPN `p` out of the cache's accounting (its entry is the caller's to
    /// set), releasing machine pages the cache no longer needs.
    func leaveCache(_ vm: VMState, _ p: UInt32) {
        vm.entry[Int(p)] = 0
        vm.cache!.pages -= 1
        vm.cache!.usedBytes -= UInt64(vm.compressedSize![Int(p)])
        let want = vm.cache!.pagesFor(vm.cache!.usedBytes)
        while vm.cache!.mpns.count > want {
            memory.release(vm.cache!.mpns.removeLast())
            cachePages -= 1
        }
    }

    /// Adds `bytes` to the cache, allocating the machine pages it then needs.
    func growCache(_ vm: VMState, by bytes: UInt64) throws(ReplayError) {
        vm.cache!.usedBytes += bytes
        let want = vm.cache!.pagesFor(vm.cache!.usedBytes)
        while vm.cache!.mpns.count < want {
            guard let m = memory.allocate() else {
                throw fail("no machine page for VM \(vm.config.id)'s compression cache (the compressed page's own page was released first; this is a model bug)")
            }
            vm.cache!.mpns.append(m)
            cachePages += 1
        }
        vm.cache!.peakPages = max(vm.cache!.peakPages, UInt64(vm.cache!.mpns.count))
        hostCachePeak = max(hostCachePeak, cachePages)
    }

    /// Brings a compressed page back on access: out of the cache first (so a reclaim during
    /// the allocation cannot evict it), then a private page.
    func decompress(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        leaveCache(vm, ppn)
        let m = try allocate(for: vm)
        vm.counters.decompressions += 1
        makeResident(vm, ppn: ppn, mpn: m)
    }

    /// Drops every compressed page (power off).
    func dropCache(_ vm: VMState) {
        guard vm.cache != nil else { return }
        while let m = vm.cache!.mpns.popLast() {
            memory.release(m)
            cachePages -= 1
        }
        vm.cache!.usedBytes = 0
        vm.cache!.pages = 0
        vm.cache!.queue.removeAll()
        vm.cache!.head = 0
    }
}
