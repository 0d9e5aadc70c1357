import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads the text trace format (docs/FORMAT.md, "Text traces"), plain or zstd-compressed.
///
/// Opening makes one pass over the declarations (`hash`, `vm`) to build the header; records
/// then stream in batches, each line checked as it comes.
public final class TextTraceReader: TraceReader {
    public let path: String
    @exclusivity(unchecked) public private(set) var header: TraceHeader
    public var encoding: TraceEncoding { .text }
    @exclusivity(unchecked) public private(set) var recordsRead: UInt64 = 0
    @exclusivity(unchecked) public private(set) var footer: TraceFooter?
    public var storedFooter: TraceFooter? { nil }
    public var rawOffset: UInt64 { scanner.input.offset }
    public var fileOffset: UInt64 { scanner.input.compressedOffset ?? scanner.input.offset }

    @exclusivity(unchecked) private var scanner: LineScanner
    @exclusivity(unchecked) private var vmIndex: [UInt32: Int] = [:]
    @exclusivity(unchecked) private var pages: [UInt64] = []
    /// Each VM's page size in bytes (a compressed size is at most one page).
    @exclusivity(unchecked) private var pageBytes: [UInt32] = []
    @exclusivity(unchecked) private var declared: [Bool] = []
    @exclusivity(unchecked) private var lastTime: UInt64 = 0
    @exclusivity(unchecked) private var counted: TraceFooter
    @exclusivity(unchecked) private var done = false
    public static let batchSize = 8192
    public static let maxLineBytes = 4096

    public init(path: String, options: ReadOptions = ReadOptions()) throws(TraceError) {
        self.path = path
        let h = try TextTraceReader.scanDeclarations(path: path)
        header = h
        for (i, vm) in h.vms.enumerated() { vmIndex[vm.id] = i }
        pages = h.vms.map(\.pages)
        pageBytes = h.vms.map { $0.pageSize ?? h.pageSize }
        declared = Array(repeating: false, count: header.vms.count)
        counted = TraceFooter(vms: header.vms)
        scanner = LineScanner(input: try InputOpener.open(path))
    }

    /// The header a text file declares: every `hash`, `compression` and `vm` line, checked.
    static func scanDeclarations(path: String) throws(TraceError) -> TraceHeader {
        var s = LineScanner(input: try InputOpener.open(path))
        var vms: [VMDecl] = []
        var hash: CaptureFacts.Hash?
        var compression: String?
        var sawRecord = false
        var ids = Set<UInt32>()
        /// The value of a `name,<value>` line: once, before every record, one non-empty field.
        func headerValue(_ name: String, _ line: LineScanner.Line, seen: Bool) throws(TraceError) -> String {
            guard !seen else {
                throw TraceError(
                    file: path, .malformed("a second \(name) line"), line: s.lineNumber, offset: s.lineOffset)
            }
            guard !sawRecord else {
                throw TraceError(
                    file: path, .malformed("the \(name) line must come before every record"), line: s.lineNumber,
                    offset: s.lineOffset)
            }
            guard line.fields.count == 2, !line.fields[1].isEmpty else {
                throw TraceError(
                    file: path, .malformed("expected \(name),<algorithm name>"), line: s.lineNumber,
                    offset: s.lineOffset)
            }
            return String(decoding: line.fields[1], as: UTF8.self)
        }
        while let line = try s.nextLine(path: path) {
            guard let first = line.fields.first else { continue }
            if first.elementsEqual("vm".utf8) {
                let vm = try parseVM(line, path: path, lineNo: s.lineNumber, offset: s.lineOffset)
                guard ids.insert(vm.id).inserted else {
                    throw TraceError(
                        file: path, .malformed("VM \(vm.id) declared twice"), line: s.lineNumber, offset: s.lineOffset)
                }
                guard vms.count < TraceLimits.maxVMs else {
                    throw TraceError(
                        file: path, .limitExceeded("more than \(TraceLimits.maxVMs) VMs"), line: s.lineNumber,
                        offset: s.lineOffset)
                }
                vms.append(vm)
            } else if first.elementsEqual("hash".utf8) {
                hash = CaptureFacts.Hash(algorithm: try headerValue("hash", line, seen: hash != nil), bits: 64)
            } else if first.elementsEqual("compression".utf8) {
                compression = try headerValue("compression", line, seen: compression != nil)
            } else {
                sawRecord = true
            }
        }
        if s.input.offset == 0 { throw TraceError(file: path, .emptyFile) }
        // The trace's page size is the VMs' when they all agree (so a binary trace of 8 KiB
        // pages comes back with pageSize 8192 and no per-VM sizes), else 4096.
        var common: UInt32 = 4096
        if let first = vms.first, vms.allSatisfy({ $0.pageSize == first.pageSize }), let ps = first.pageSize {
            common = ps
            for i in vms.indices { vms[i].pageSize = nil }
        }
        var facts = CaptureFacts(source: "text", hash: hash, accesses: "exact")
        facts.compression = compression
        let h = TraceHeader(pageSize: common, vms: vms, capture: facts)
        try h.validate(file: path)
        return h
    }

    /// `vm,<id>,<name>,<pages>[,<page size>][,min=<pages>][,shares=<n>]`.
    static func parseVM(
        _ line: LineScanner.Line, path: String, lineNo: UInt64, offset: UInt64
    ) throws(TraceError) -> VMDecl {
        let f = line.fields
        func bad(_ s: String) -> TraceError { TraceError(file: path, .malformed(s), line: lineNo, offset: offset) }
        let usage = "expected vm,<id>,<name>,<pages>[,<page size>][,min=<pages>][,shares=<n>]"
        guard f.count >= 4 && f.count <= 7 else { throw bad(usage) }
        guard let id = parseUInt(f[1]), id <= UInt64(UInt32.max) else { throw bad("bad VM id \"\(str(f[1]))\"") }
        guard let pages = parseUInt(f[3]) else { throw bad("bad page count \"\(str(f[3]))\"") }
        guard pages >= 1, pages <= TraceLimits.maxPagesPerVM else {
            throw TraceError(
                file: path,
                .limitExceeded("VM \(id) declares \(pages) pages; a VM has 1 to \(TraceLimits.maxPagesPerVM)"),
                line: lineNo, offset: offset)
        }
        var pageSize: UInt32?, minPages: UInt64?, shares: UInt64?
        // Optional fields, in this order: a bare page size, then min=, then shares=.
        var stage = 0
        for field in f.dropFirst(4) {
            let text = str(field)
            if stage == 0, let ps = parseUInt(field) {
                guard ps >= 512, ps <= 1 << 30, ps & (ps - 1) == 0 else {
                    throw bad("bad page size \"\(text)\" (a power of two from 512 to 2^30)")
                }
                pageSize = ps == 4096 ? nil : UInt32(ps)
                stage = 1
            } else if stage <= 1, text.hasPrefix("min=") {
                guard let m = UInt64(text.dropFirst(4)), m <= pages else {
                    throw bad("bad min \"\(text)\" (pages, at most the VM's \(pages))")
                }
                minPages = m
                stage = 2
            } else if stage <= 2, text.hasPrefix("shares=") {
                guard let v = UInt64(text.dropFirst(7)) else {
                    throw bad("bad shares \"\(text)\" (an unsigned integer)")
                }
                shares = v
                stage = 3
            } else {
                throw bad("unexpected field \"\(text)\"; \(usage)")
            }
        }
        // A name is valid UTF-8 (refused, not rewritten: a name is how reports and --vm find
        // the VM) and not empty.
        guard let name = String(validating: f[2], as: UTF8.self) else {
            throw bad("VM \(id) name is not valid UTF-8")
        }
        guard !name.isEmpty else { throw bad("VM \(id) has an empty name") }
        return VMDecl(id: UInt32(id), name: name, pages: pages, pageSize: pageSize, minPages: minPages, shares: shares)
    }

    static func str(_ s: UnsafeRawBufferPointer) -> String { String(decoding: s, as: UTF8.self) }

    @inline(__always)
    static func parseUInt(_ s: UnsafeRawBufferPointer) -> UInt64? {
        if s.isEmpty || s.count > 20 { return nil }
        var v: UInt64 = 0
        for b in s {
            let d = b &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }

    static func parseHex(_ s: UnsafeRawBufferPointer) -> UInt64? {
        guard s.count == 16 else { return nil }
        var v: UInt64 = 0
        for b in s {
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x61...0x66: d = b - 0x61 + 10
            case 0x41...0x46: d = b - 0x41 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    public func next(into batch: inout [TraceRecord]) throws(TraceError) -> Bool {
        batch.removeAll(keepingCapacity: true)
        if done { return false }
        while batch.count < TextTraceReader.batchSize {
            guard let line = try scanner.nextLine(path: path) else {
                done = true
                footer = counted
                return !batch.isEmpty
            }
            guard let first = line.fields.first else { continue }
            if first.elementsEqual("vm".utf8) {
                let vm = try TextTraceReader.parseVM(
                    line, path: path, lineNo: scanner.lineNumber, offset: scanner.lineOffset)
                declared[vmIndex[vm.id]!] = true
                continue
            }
            if first.elementsEqual("hash".utf8) || first.elementsEqual("compression".utf8) { continue }
            let (r, vi) = try parseRecord(line)
            counted.count(r, vmIndex: vi)
            batch.append(r)
            recordsRead += 1
        }
        return true
    }

    private func parseRecord(_ line: LineScanner.Line) throws(TraceError) -> (TraceRecord, Int) {
        let f = line.fields
        func bad(_ p: TraceError.Problem) -> TraceError {
            TraceError(file: path, p, record: recordsRead, line: scanner.lineNumber, offset: scanner.lineOffset)
        }
        func badField(_ what: String, _ s: UnsafeRawBufferPointer) -> TraceError {
            bad(.malformed("bad \(what) \"\(TextTraceReader.str(s))\""))
        }
        guard f.count >= 3 else { throw bad(.malformed("expected <time_us>,<vm>,<op>,…")) }
        guard let time = TextTraceReader.parseUInt(f[0]) else { throw badField("time", f[0]) }
        guard let id = TextTraceReader.parseUInt(f[1]), id <= UInt64(UInt32.max) else { throw badField("VM id", f[1]) }
        guard let vi = vmIndex[UInt32(id)], declared[vi] else {
            throw bad(.undeclaredVM(UInt32(truncatingIfNeeded: id)))
        }
        guard time >= lastTime else { throw bad(.timeBackwards(previous: lastTime, found: time)) }
        let op = f[2]
        var r = TraceRecord(time: Micros(time), vm: VMID(UInt32(id)), kind: .read)
        func ppnAndCount(_ kind: RecordKind) throws(TraceError) {
            r.kind = kind
            guard f.count == 4 || f.count == 5 else {
                throw bad(.malformed("expected <time_us>,<vm>,\(kind.textName),<ppn>[,<count>]"))
            }
            guard let p = TextTraceReader.parseUInt(f[3]) else { throw badField("PPN", f[3]) }
            var n: UInt64 = 1
            if f.count == 5 {
                guard let c = TextTraceReader.parseUInt(f[4]), c >= 1, c <= UInt64(UInt32.max) else {
                    throw badField("count", f[4])
                }
                n = c
            }
            try setPages(p, n)
        }
        func setPages(_ p: UInt64, _ n: UInt64) throws(TraceError) {
            guard p < pages[vi], n <= pages[vi] - p else {
                throw bad(.ppnOutOfRange(vm: UInt32(id), ppn: p, count: n, pages: pages[vi]))
            }
            r.ppn = PPN(UInt32(p))
            r.count = UInt32(n)
        }
        if op.elementsEqual("R".utf8) {
            try ppnAndCount(.read)
        } else if op.elementsEqual("W".utf8) {
            try ppnAndCount(.write)
        } else if op.elementsEqual("Z".utf8) {
            try ppnAndCount(.zero)
        } else if op.elementsEqual("FREE".utf8) {
            try ppnAndCount(.free)
        } else if op.elementsEqual("C".utf8) {
            r.kind = .content
            guard f.count == 5 || f.count == 6 else {
                throw bad(.malformed("expected <time_us>,<vm>,C,<ppn>,<16 hex digits>[,<compressed bytes>]"))
            }
            guard let p = TextTraceReader.parseUInt(f[3]) else { throw badField("PPN", f[3]) }
            guard let h = TextTraceReader.parseHex(f[4]) else { throw badField("hash (16 hex digits)", f[4]) }
            try setPages(p, 1)
            r.hash = ContentHash(h)
            if f.count == 6 {
                let limit = UInt64(pageBytes[vi])
                guard let z = TextTraceReader.parseUInt(f[5]), z >= 1, z <= limit else {
                    throw badField("compressed size (1 to the page size, \(limit) bytes)", f[5])
                }
                r.compressedSize = UInt32(z)
            }
        } else if op.elementsEqual("RV".utf8) || op.elementsEqual("WV".utf8) {
            r.kind = op.first == 0x52 ? .read : .write
            guard f.count == 6 else {
                throw bad(.malformed("expected <time_us>,<vm>,\(TextTraceReader.str(op)),<ppn>,<asid>,<vpn>"))
            }
            guard let p = TextTraceReader.parseUInt(f[3]) else { throw badField("PPN", f[3]) }
            guard let a = TextTraceReader.parseUInt(f[4]), a <= UInt64(UInt32.max) else {
                throw badField("address space id", f[4])
            }
            guard let v = TextTraceReader.parseUInt(f[5]) else { throw badField("VPN", f[5]) }
            try setPages(p, 1)
            r.hasVirtual = true
            r.asid = ASID(UInt32(a))
            r.vpn = VPN(v)
        } else if op.elementsEqual("ON".utf8) || op.elementsEqual("OFF".utf8) {
            guard f.count == 3 else { throw bad(.malformed("expected <time_us>,<vm>,\(TextTraceReader.str(op))")) }
            r.kind = op.count == 2 ? .powerOn : .powerOff
        } else {
            throw bad(.malformed("unknown record type \"\(TextTraceReader.str(op))\""))
        }
        lastTime = time
        return (r, vi)
    }
}

/// Splits a raw stream into lines and comma-separated fields without copying.
struct LineScanner {
    struct Line {
        var fields: [UnsafeRawBufferPointer]
    }

    let input: RawInput
    private(set) var lineNumber: UInt64 = 0
    private(set) var lineOffset: UInt64 = 0
    private var fields: [UnsafeRawBufferPointer] = []
    private var pendingConsume = 0

    init(input: RawInput) {
        self.input = input
        fields.reserveCapacity(8)
    }

    /// The next line that is not blank or a comment; nil at the end. The fields are valid
    /// until the next call.
    mutating func nextLine(path: String) throws(TraceError) -> Line? {
        while true {
            if pendingConsume > 0 { input.consume(pendingConsume); pendingConsume = 0 }
            guard try input.fill() else { return nil }
            var bytes = input.bytes
            var nlPtr = memchr(bytes.baseAddress!, 0x0A, bytes.count)
            while nlPtr == nil {
                if bytes.count > TextTraceReader.maxLineBytes {
                    throw TraceError(
                        file: path, .limitExceeded("line longer than \(TextTraceReader.maxLineBytes) bytes"),
                        line: lineNumber + 1, offset: input.offset)
                }
                if !(try input.fillMore()) { break }
                bytes = input.bytes
                nlPtr = memchr(bytes.baseAddress!, 0x0A, bytes.count)
            }
            lineNumber += 1
            lineOffset = input.offset
            let base = bytes.baseAddress!
            let lineEnd = nlPtr.map { UnsafeRawPointer($0) - base } ?? bytes.count
            pendingConsume = nlPtr == nil ? bytes.count : lineEnd + 1
            if lineEnd > TextTraceReader.maxLineBytes {
                throw TraceError(
                    file: path, .limitExceeded("line longer than \(TextTraceReader.maxLineBytes) bytes"),
                    line: lineNumber, offset: lineOffset)
            }
            let p = base.assumingMemoryBound(to: UInt8.self)
            var n = lineEnd
            if n > 0 && p[n - 1] == 0x0D { n -= 1 }
            if n == 0 || p[0] == 0x23 { continue }  // blank or '#'
            var blank = true
            for i in 0..<n where p[i] != 0x20 && p[i] != 0x09 {
                blank = false
                if p[i] == 0 {
                    throw TraceError(
                        file: path, .malformed("NUL byte in a text trace"), line: lineNumber, offset: lineOffset)
                }
            }
            if blank { continue }
            fields.removeAll(keepingCapacity: true)
            var s = 0
            for i in 0..<n where p[i] == 0x2C {
                fields.append(UnsafeRawBufferPointer(start: base + s, count: i - s))
                s = i + 1
            }
            fields.append(UnsafeRawBufferPointer(start: base + s, count: n - s))
            return Line(fields: fields)
        }
    }
}
