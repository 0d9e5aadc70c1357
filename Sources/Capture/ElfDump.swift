#if canImport(Glibc)
import Glibc
#endif
import TraceFormat

/// Reads a guest memory dump in ELF form — QEMU's `dump-guest-memory` without paging, or
/// libvirt's `virsh dump --memory-only --format elf` — as one content snapshot of one VM
/// (docs/FLEET.md, "Memory dumps").
///
/// The dump is an ELF64 little-endian core file (`ET_CORE`); each `PT_LOAD` segment is a range
/// of guest-physical memory at `p_paddr`, `p_filesz` bytes of it in the file at `p_offset` and
/// the rest up to `p_memsz` zero (ELF's rule). Guest page `p_paddr / pageSize + i` becomes the
/// trace's PPN, so holes between segments (the PCI hole below 4 GiB) are pages the VM never
/// touched. Every page is hashed as the captures hash (XXH3-64, 0 for an all-zero page) and
/// its compressed size measured as they do (libzstd level 1). The trace, all at time 0:
/// a `W` run for each run of non-zero pages (the guest wrote them: the host backed them), then
/// their `C` records; all-zero pages are `Z` runs with no access (a page the guest never
/// touched is zero too, and the model needs no memory for it). Accesses are
/// `interval-writes`, like an attach capture's first snapshot.
///
/// Memory is one read buffer (1 MiB) whatever the dump's size; time grows with the bytes in
/// the file, not with the sizes a header claims (a segment's zero tail is one record).
public struct ElfDumpImporter: Sendable {
    public static let source = "elf-dump"
    /// The VM's name in the trace; nil: the file's name without its extensions.
    public var name: String?
    public var pageSize: Int = 4096
    /// The bytes read per call.
    public var blockBytes: Int = 1 << 20

    public init(name: String? = nil) { self.name = name }

    /// One `PT_LOAD` segment.
    public struct Segment: Equatable, Sendable {
        /// Its index among the program headers.
        public var index: Int
        public var physicalAddress: UInt64
        public var fileOffset: UInt64
        public var fileBytes: UInt64
        public var memoryBytes: UInt64
    }

    /// What a dump holds, from its headers alone.
    public struct Layout: Equatable, Sendable {
        /// The memory segments in guest-physical order (empty ones dropped).
        public var segments: [Segment]
        /// Notes and other program headers that are not memory.
        public var otherHeaders: Int
        /// Pages of the VM: the end of the highest segment.
        public var pages: UInt64
    }

    /// Parses and checks the headers of the dump open on `fd` (`size` bytes).
    public func layout(fd: Int32, size: UInt64, file: String) throws(TraceError) -> Layout {
        func fail(_ p: TraceError.Problem, at offset: UInt64? = nil) -> TraceError {
            TraceError(file: file, p, offset: offset)
        }
        func read(_ count: Int, at offset: UInt64, what: String) throws(TraceError) -> [UInt8] {
            let (end, o) = offset.addingReportingOverflow(UInt64(count))
            guard !o, end <= size else {
                throw fail(
                    .truncated("\(what) needs bytes \(offset)..<\(offset &+ UInt64(count)); the file has \(size)"))
            }
            var b = [UInt8](repeating: 0, count: count)
            let got = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            guard got == count else { throw fail(.io("short read of \(what) at byte \(offset)")) }
            return b
        }
        guard size > 0 else { throw fail(.emptyFile) }
        let h = try read(64, at: 0, what: "the ELF header")
        guard h[0] == 0x7F, h[1] == 0x45, h[2] == 0x4C, h[3] == 0x46 else {
            let shown = h[0..<4].map { String(format: "%02x", $0) }.joined()
            throw fail(
                .malformed("not an ELF file (first bytes \(shown); a dump-guest-memory ELF starts 7f454c46)"), at: 0)
        }
        guard h[4] == 2, h[5] == 1 else {
            throw fail(
                .malformed("ELF class \(h[4]), data \(h[5]): only 64-bit little-endian dumps (x86-64, arm64) are read"),
                at: 4)
        }
        func u16(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(b[i]) | UInt64(b[i + 1]) << 8 }
        func u32(_ b: [UInt8], _ i: Int) -> UInt64 { u16(b, i) | u16(b, i + 2) << 16 }
        func u64(_ b: [UInt8], _ i: Int) -> UInt64 { u32(b, i) | u32(b, i + 4) << 32 }
        guard u16(h, 16) == 4 else {
            throw fail(
                .malformed("ELF type \(u16(h, 16)) is not a core file (dump-guest-memory writes type 4, ET_CORE)"),
                at: 16)
        }
        let phoff = u64(h, 32), phentsize = u16(h, 54)
        var phnum = u16(h, 56)
        guard phentsize == 56 else {
            throw fail(.malformed("program header size \(phentsize); ELF64 has 56"), at: 54)
        }
        if phnum == 0xFFFF {
            // PN_XNUM: the count is in section header 0's sh_info (QEMU writes this past 65,534).
            let shoff = u64(h, 40)
            let sh = try read(64, at: shoff, what: "section header 0 (the program header count)")
            phnum = u32(sh, 44)
        }
        guard phnum > 0 else { throw fail(.malformed("no program headers: no memory in the dump"), at: 56) }
        let (tableBytes, o1) = phnum.multipliedReportingOverflow(by: 56)
        let (tableEnd, o2) = phoff.addingReportingOverflow(tableBytes)
        guard !o1, !o2, tableEnd <= size else {
            throw fail(.truncated("\(phnum) program headers at byte \(phoff) end past the file's \(size) bytes"))
        }
        var segments: [Segment] = []
        var other = 0
        let maxBytes = TraceLimits.maxPagesPerVM * UInt64(pageSize)
        let ps = UInt64(pageSize)
        // The table is read in pieces so a large count costs a bounded buffer.
        var i: UInt64 = 0
        while i < phnum {
            let n = Int(min(phnum - i, 4096))
            let t = try read(n * 56, at: phoff + i * 56, what: "program headers")
            for k in 0..<n {
                let b = k * 56, index = Int(i) + k, at = phoff + (i + UInt64(k)) * 56
                guard u32(t, b) == 1 else {
                    other += 1
                    continue
                }
                let s = Segment(
                    index: index, physicalAddress: u64(t, b + 24), fileOffset: u64(t, b + 8),
                    fileBytes: u64(t, b + 32), memoryBytes: u64(t, b + 40))
                let name = "segment \(index) (guest-physical 0x\(String(s.physicalAddress, radix: 16)))"
                guard s.fileBytes <= s.memoryBytes else {
                    throw fail(
                        .malformed("\(name) has \(s.fileBytes) bytes in the file but \(s.memoryBytes) in memory"),
                        at: at)
                }
                guard s.physicalAddress % ps == 0, s.memoryBytes % ps == 0 else {
                    throw fail(
                        .malformed("\(name): address and size \(s.memoryBytes) are not whole \(pageSize)-byte pages"),
                        at: at)
                }
                let (end, o3) = s.physicalAddress.addingReportingOverflow(s.memoryBytes)
                guard !o3, end <= maxBytes else {
                    throw fail(
                        .limitExceeded(
                            "\(name) of \(s.memoryBytes) bytes ends past \(maxBytes >> 40) TiB, the most a VM can have (2^32 pages)"
                        ),
                        at: at)
                }
                let (fileEnd, o4) = s.fileOffset.addingReportingOverflow(s.fileBytes)
                guard !o4, fileEnd <= size else {
                    throw fail(
                        .truncated(
                            "\(name) needs file bytes \(s.fileOffset)..<\(s.fileOffset &+ s.fileBytes); the file has \(size)"
                        ),
                        at: at)
                }
                if s.memoryBytes > 0 { segments.append(s) }
            }
            i += UInt64(n)
        }
        guard !segments.isEmpty else {
            throw fail(.malformed("no memory segments (PT_LOAD with a size): nothing to read"))
        }
        segments.sort { ($0.physicalAddress, $0.index) < ($1.physicalAddress, $1.index) }
        for (a, b) in zip(segments, segments.dropFirst()) where a.physicalAddress + a.memoryBytes > b.physicalAddress {
            throw fail(
                .malformed(
                    "segments \(a.index) and \(b.index) overlap at guest-physical 0x\(String(b.physicalAddress, radix: 16))"
                ))
        }
        let last = segments[segments.count - 1]
        return Layout(segments: segments, otherHeaders: other, pages: (last.physicalAddress + last.memoryBytes) / ps)
    }

    /// Converts the dump `input` to the trace `output` (binary or text by its name).
    @discardableResult
    public func importFile(_ input: String, to output: String, level: Int32 = 3) throws(TraceError) -> TraceFooter {
        let fd = open(input, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TraceError(file: input, .io(String(cString: strerror(errno)))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TraceError(file: input, .io(String(cString: strerror(errno)))) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw TraceError(file: input, .io("not a regular file")) }
        let size = UInt64(st.st_size)
        let layout = try self.layout(fd: fd, size: size, file: input)
        let vmName = name ?? Self.defaultName(input)
        let dumped = layout.segments.reduce(UInt64(0)) { $0 + $1.memoryBytes }
        var facts = CaptureFacts(
            source: Self.source, hash: .init(algorithm: "xxh3-64", bits: 64), accesses: "interval-writes",
            details: [
                "input": Self.baseName(input), "inputBytes": String(size), "segments": String(layout.segments.count),
                "dumpedBytes": String(dumped),
            ])
        facts.compression = PageCompressor.name
        let header = TraceHeader(
            pageSize: UInt32(pageSize), vms: [VMDecl(id: 0, name: vmName, pages: layout.pages)], capture: facts)
        let sink = try TraceSinks.open(path: output, header: header, level: level)
        do {
            try emit(fd: fd, layout: layout, file: input, into: sink)
            return try sink.finish()
        } catch {
            sink.abandon()
            throw error
        }
    }

    /// A VM name from a path: the file name up to its first dot, with characters a name may
    /// not hold replaced.
    static func defaultName(_ path: String) -> String {
        let base = baseName(path)
        let stem = base.split(separator: ".", maxSplits: 1).first.map(String.init) ?? base
        let cleaned = String(stem.map { $0 == "," || $0 == "\n" || $0 == "\r" ? "_" : $0 })
        return cleaned.isEmpty ? "dump" : cleaned
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    private func emit(fd: Int32, layout: Layout, file: String, into sink: any TraceSink) throws(TraceError) {
        let ps = pageSize
        let perBlock = max(1, blockBytes / ps)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: perBlock * ps, alignment: 64)
        defer { buffer.deallocate() }
        let compressor = PageCompressor()
        var hashes = [UInt64](repeating: 0, count: perBlock)
        var out: [TraceRecord] = []
        // A run of zero pages is carried across blocks and segments, so a zero range is one record.
        var zeroStart: UInt64 = 0, zeroEnd: UInt64 = 0
        func zero(_ first: UInt64, _ count: UInt64) throws(TraceError) {
            if zeroEnd > zeroStart, zeroEnd == first, zeroEnd - zeroStart + count <= UInt64(UInt32.max) {
                zeroEnd += count
                return
            }
            try flushZeros()
            zeroStart = first
            zeroEnd = first + count
        }
        func flushZeros() throws(TraceError) {
            var s = zeroStart
            while s < zeroEnd {
                let n = min(zeroEnd - s, UInt64(UInt32.max))
                try sink.append(
                    TraceRecord(time: Micros(0), vm: VMID(0), kind: .zero, ppn: PPN(UInt32(s)), count: UInt32(n)))
                s += n
            }
            zeroStart = 0
            zeroEnd = 0
        }
        for seg in layout.segments {
            let firstPage = seg.physicalAddress / UInt64(ps)
            let filePages = (seg.fileBytes + UInt64(ps) - 1) / UInt64(ps)
            var done: UInt64 = 0
            while done < filePages {
                let n = Int(min(UInt64(perBlock), filePages - done))
                let want = Int(min(UInt64(n * ps), seg.fileBytes - done * UInt64(ps)))
                let at = seg.fileOffset + done * UInt64(ps)
                var got = 0
                while got < want {
                    let r = pread(fd, buffer + got, want - got, off_t(at + UInt64(got)))
                    if r < 0 && errno == EINTR { continue }
                    guard r > 0 else {
                        throw TraceError(
                            file: file,
                            .truncated(
                                "segment \(seg.index) ends at byte \(at + UInt64(got)): the file shrank while being read"
                            ),
                            offset: at + UInt64(got))
                    }
                    got += r
                }
                if want < n * ps { memset(buffer + want, 0, n * ps - want) }
                for k in 0..<n { hashes[k] = GuestMemory.hash(buffer + k * ps) }
                let base = firstPage + done
                // Writes first (a written page's content is unknown until its content record).
                var k = 0
                while k < n {
                    guard hashes[k] != 0 else {
                        k += 1
                        continue
                    }
                    var j = k + 1
                    while j < n, hashes[j] != 0 { j += 1 }
                    out.append(
                        TraceRecord(
                            time: Micros(0), vm: VMID(0), kind: .write, ppn: PPN(UInt32(base + UInt64(k))),
                            count: UInt32(j - k)))
                    k = j
                }
                for r in out { try sink.append(r) }
                out.removeAll(keepingCapacity: true)
                for k in 0..<n {
                    let p = base + UInt64(k)
                    if hashes[k] == 0 {
                        try zero(p, 1)
                    } else {
                        try flushZeros()
                        try sink.append(
                            TraceRecord(
                                time: Micros(0), vm: VMID(0), kind: .content, ppn: PPN(UInt32(p)),
                                hash: ContentHash(hashes[k]),
                                compressedSize: compressor.size(buffer + k * ps, ps)))
                    }
                }
                done += UInt64(n)
            }
            // The segment's tail past its file bytes is zero.
            let memPages = seg.memoryBytes / UInt64(ps)
            if memPages > filePages { try zero(firstPage + filePages, memPages - filePages) }
        }
        try flushZeros()
    }
}
