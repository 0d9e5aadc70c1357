import TraceFormat

/// The compression cache (docs/MODEL.md "Compression cache"), as ESX 4.1 and later keep one
/// per VM in front of host swap: a page the host pages out is compressed first, and if it
/// compresses to at most `compressionThreshold` of a page it stays in memory, compressed,
/// instead of going to disk. A later access decompresses it. A SwapTier (its contract).
///
/// Contract:
/// - A page's compressed size is the last one the trace gave for its content (a content record
///   of format version 2); a zero page (Z record, demand-zero fill) takes `zeroPageBytes`; a
///   page whose content never came with a size is incompressible (and counted as such).
/// - The cache holds compressed bytes up to `compressionCache` × the VM's max pages × the page
///   size, each page charged `charge(size)` bytes (its size here); it occupies
///   ⌈bytes / page size⌉ machine pages, allocated and released as it grows and shrinks (the
///   victim's page is released first, so compressing never needs more memory than it frees).
/// - When a compressible page does not fit, the oldest compressed pages are written to swap
///   (each a swap-out) until it does.
/// - A compressed page that the guest gives to its balloon is decompressed first (double
///   paging, as for a swapped page); one that is handed back to the host is dropped.
class CompressionCache: SwapTier {
    /// What zstd at level 1 makes of 4 KiB of zeros (frame header and one RLE block).
    static let zeroPageBytes: UInt32 = 18
    /// Sequence numbers wrap at 2^29 (as when they were kept in the pmap entry's 29 bits).
    static let seqMask: UInt32 = (1 << 29) - 1

    let pageBytes: UInt64
    /// Bytes the cache may hold, and the largest compressed page it takes.
    let capacityBytes: UInt64
    let maxPageBytes: UInt64
    /// Each page's last known compressed size in bytes (0 unknown).
    let sizes: UnsafeMutablePointer<UInt32>
    /// The sequence number each page was compressed under, while it is in the cache (queue
    /// entries under an older one are stale).
    let seqs: UnsafeMutablePointer<UInt32>
    let pageCount: Int
    /// Bytes charged for the pages held, and the machine pages holding them.
    private(set) var usedBytes: UInt64 = 0
    private(set) var machinePages: UInt64 = 0
    /// Pages compressed now.
    private(set) var pages: UInt64 = 0
    /// Compression order: (PPN, sequence) with stale entries (the page left the cache, or
    /// was compressed again later) skipped when met; compacted when mostly stale.
    private var queue: [(ppn: UInt32, seq: UInt32)] = []
    private var head = 0
    private var nextSeq: UInt32 = 0
    /// The most machine pages the cache held at once.
    private(set) var peakPages: UInt64 = 0
    /// Pages written from the cache to swap; victims sent to swap because they compress too
    /// little, or because their size is unknown; content records that carried a size.
    private(set) var evictions: UInt64 = 0
    private(set) var incompressible: UInt64 = 0
    private(set) var unknown: UInt64 = 0
    private var contentWithSize: UInt64 = 0

    init(pageBytes: UInt64, maxPages: UInt64, fraction: Double, threshold: Double) {
        self.pageBytes = pageBytes
        capacityBytes = UInt64((Double(maxPages) * fraction).rounded(.down)) * pageBytes
        maxPageBytes = UInt64((Double(pageBytes) * threshold).rounded(.down))
        pageCount = Int(maxPages)
        sizes = VMState.zeroed(UInt32.self, maxPages)
        seqs = VMState.zeroed(UInt32.self, maxPages)
    }

    deinit {
        VMState.release(sizes)
        VMState.release(seqs)
    }

    /// Whether queue entry (p, seq) is the page's current place in the cache.
    @inline(__always) private func current(_ vm: VMState, _ p: UInt32, _ seq: UInt32) -> Bool {
        PageState.of(vm.entry[Int(p)]) == .tiered && seqs[Int(p)] == seq
    }

    /// The bytes of cache a page that compresses to `size` bytes takes (at most `maxPageBytes`).
    func charge(_ size: UInt64) -> UInt64 { size }

    /// Machine pages `bytes` of compressed data occupy.
    func pagesFor(_ bytes: UInt64) -> Int { Int((bytes + pageBytes - 1) / pageBytes) }

    func contentReported(_ vm: VMState, _ ppn: Int, _ record: TraceRecord) {
        if record.compressedSize > 0 { contentWithSize += 1 }
        sizes[ppn] = record.compressedSize
    }

    func zeroFilled(_ ppn: Int) { sizes[ppn] = CompressionCache.zeroPageBytes }

    func forget(_ ppn: Int) { sizes[ppn] = 0 }

    /// Compresses victim `p` (private, not shared) into the cache if it compresses enough and
    /// fits (after writing the oldest compressed pages to swap); false: it must be swapped.
    func pageOut(_ engine: ReplayEngine, _ vm: VMState, _ p: UInt32) throws(ReplayError) -> Bool {
        let i = Int(p)
        let size = UInt64(sizes[i])
        guard size > 0 else {
            unknown += 1
            return false
        }
        let bytes = charge(size)
        guard size <= maxPageBytes, bytes <= capacityBytes else {
            incompressible += 1
            return false
        }
        // Make room: the oldest compressed pages go to swap.
        while usedBytes + bytes > capacityBytes {
            guard try evictOldest(engine, vm) else { break }
        }
        guard usedBytes + bytes <= capacityBytes else { return false }
        if vm.flags[i] & PageFlag.hinted != 0 { engine.dropHint(vm, ppn: p) }
        engine.releaseResident(vm, ppn: p, vm.entry[i])
        let seq = nextSeq
        nextSeq = (nextSeq + 1) & CompressionCache.seqMask
        vm.entry[i] = PageState.tieredEntry
        seqs[i] = seq
        queue.append((p, seq))
        pages += 1
        try grow(engine, vm, by: bytes)
        vm.counters.tierOut += 1
        engine.invalidateShadow(vm, ppn: p)
        // Drop stale queue entries once they are most of it.
        if queue.count - head > 2 * Int(pages) + 64 {
            queue = queue[head...].filter { current(vm, $0.ppn, $0.seq) }
            head = 0
        }
        return true
    }

    /// Writes the oldest compressed page to swap; false when none is left.
    private func evictOldest(_ engine: ReplayEngine, _ vm: VMState) throws(ReplayError) -> Bool {
        while head < queue.count {
            let e = queue[head]
            head += 1
            guard current(vm, e.ppn, e.seq) else { continue }
            try engine.takeSwapSlot(vm, "write VM \(vm.config.id)'s compressed pages out")
            remove(engine, vm, e.ppn)
            engine.markSwapped(vm, e.ppn)
            evictions += 1
            return true
        }
        return false
    }

    /// Takes compressed PPN `p` out of the cache, releasing machine pages it no longer needs.
    func remove(_ engine: ReplayEngine, _ vm: VMState, _ p: UInt32) {
        vm.entry[Int(p)] = 0
        pages -= 1
        usedBytes -= charge(UInt64(sizes[Int(p)]))
        let want = UInt64(pagesFor(usedBytes))
        while machinePages > want {
            engine.memory.release()
            machinePages -= 1
            engine.tierPages -= 1
        }
    }

    /// Adds `bytes` to the cache, allocating the machine pages it then needs.
    private func grow(_ engine: ReplayEngine, _ vm: VMState, by bytes: UInt64) throws(ReplayError) {
        usedBytes += bytes
        let want = UInt64(pagesFor(usedBytes))
        while machinePages < want {
            guard engine.memory.allocate() else {
                throw engine.fail(
                    "no machine page for VM \(vm.config.id)'s compression cache (the compressed page's own page was released first; this is a model bug)"
                )
            }
            machinePages += 1
            engine.tierPages += 1
        }
        peakPages = max(peakPages, machinePages)
        engine.tierPeak = max(engine.tierPeak, engine.tierPages)
    }

    /// Drops every compressed page and every known size (power off).
    func drop(_ engine: ReplayEngine, _ vm: VMState) {
        while machinePages > 0 {
            engine.memory.release()
            machinePages -= 1
            engine.tierPages -= 1
        }
        usedBytes = 0
        pages = 0
        queue.removeAll()
        head = 0
        for i in 0..<pageCount { sizes[i] = 0 }
    }

    func check(_ engine: ReplayEngine, _ vm: VMState) throws(ReplayError) {
        var n: UInt64 = 0, bytes: UInt64 = 0
        for i in 0..<vm.pageCount where PageState.of(vm.entry[i]) == .tiered {
            n += 1
            bytes += charge(UInt64(sizes[i]))
        }
        guard n == pages, bytes == usedBytes, usedBytes <= capacityBytes, machinePages == UInt64(pagesFor(usedBytes))
        else {
            throw engine.fail(
                "VM \(vm.config.id) compression cache drifted: \(n) pages of \(bytes) bytes in the pmap, counted \(pages) pages, \(usedBytes) bytes (cap \(capacityBytes)) in \(machinePages) machine pages"
            )
        }
    }

    func report() -> any Sendable {
        CompressionCacheState(
            pages: pages, bytes: usedBytes, machinePages: machinePages, peakMachinePages: peakPages,
            capacityBytes: capacityBytes, evictedToSwap: evictions, swappedIncompressible: incompressible,
            swappedSizeUnknown: unknown, contentRecordsWithSize: contentWithSize)
    }
}

/// A compression cache at a snapshot (`MechanismReports`), per VM: pages compressed, the bytes
/// charged for them, the machine pages holding them and the most at once, its capacity, and
/// what it sent to swap.
public struct CompressionCacheState: Sendable, Equatable {
    public var pages: UInt64
    public var bytes: UInt64
    public var machinePages: UInt64
    public var peakMachinePages: UInt64
    public var capacityBytes: UInt64
    public var evictedToSwap: UInt64
    public var swappedIncompressible: UInt64
    public var swappedSizeUnknown: UInt64
    public var contentRecordsWithSize: UInt64

    /// The sum of several VMs' caches, with `peak` as the host-wide peak.
    public static func sum(_ states: [CompressionCacheState], peak: UInt64) -> CompressionCacheState {
        func total(_ k: KeyPath<CompressionCacheState, UInt64>) -> UInt64 { states.reduce(0) { $0 + $1[keyPath: k] } }
        return CompressionCacheState(
            pages: total(\.pages), bytes: total(\.bytes), machinePages: total(\.machinePages),
            peakMachinePages: peak, capacityBytes: total(\.capacityBytes),
            evictedToSwap: total(\.evictedToSwap), swappedIncompressible: total(\.swappedIncompressible),
            swappedSizeUnknown: total(\.swappedSizeUnknown), contentRecordsWithSize: total(\.contentRecordsWithSize))
    }
}
