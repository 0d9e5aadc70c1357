import Foundation

/// Decodes a binary trace chunk by chunk; each call to `next` yields one chunk's records.
public final class BinaryTraceReader: TraceReader {
    public let path: String
    public let header: TraceHeader
    public var encoding: TraceEncoding { .binary }
    @exclusivity(unchecked) public private(set) var recordsRead: UInt64 = 0
    @exclusivity(unchecked) public private(set) var footer: TraceFooter?
    private let input: RawInput
    private let options: ReadOptions
    @exclusivity(unchecked) private var done = false
    @exclusivity(unchecked) private var lastTime: UInt64 = 0
    /// The footer the seek table points at, read at open when there is one: each chunk header
    /// is checked against its totals before any of the chunk's records is handed out, so a
    /// corrupt chunk (a base time of 2^63, say) is refused before a replay simulates up to it.
    @exclusivity(unchecked) public private(set) var storedFooter: TraceFooter?
    @exclusivity(unchecked) private var vmIndex = VMIndexMap([])
    @exclusivity(unchecked) private var pages: [UInt64]
    /// Each VM's page size in bytes (a compressed size is at most one page).
    @exclusivity(unchecked) private var pageBytes: [UInt64]
    /// The file's format version (op 0x25 needs 2).
    private let version: UInt16
    @exclusivity(unchecked) private var lastPPN: [UInt64]
    @exclusivity(unchecked) private var lastGen: [UInt32]
    @exclusivity(unchecked) private var gen: UInt32 = 0
    @exclusivity(unchecked) private var counted: TraceFooter

    public var rawOffset: UInt64 { input.offset }
    public var fileOffset: UInt64 { input.compressedOffset ?? input.offset }

    init(input: RawInput, options: ReadOptions) throws(TraceError) {
        path = input.path
        self.input = input
        self.options = options
        let fixed = BinaryLayout.fixedHeaderSize
        guard try input.ensure(fixed) else {
            if input.available >= BinaryLayout.magic.count, Array(input.bytes.prefix(8)) == BinaryLayout.magic {
                throw TraceError(
                    file: input.path, .truncated("the header is cut short"), offset: UInt64(input.available),
                    compressedOffset: input.compressedOffset)
            }
            throw TraceError(file: input.path, .badMagic(found: TraceFile.hex(Array(input.bytes.prefix(8)))), offset: 0)
        }
        let b = input.bytes
        guard Array(b.prefix(8)) == BinaryLayout.magic else {
            throw TraceError(file: input.path, .badMagic(found: TraceFile.hex(Array(b.prefix(8)))), offset: 0)
        }
        let version = UInt16(b[8]) | UInt16(b[9]) << 8
        let flags = UInt16(b[10]) | UInt16(b[11]) << 8
        guard version >= 1 else { throw TraceError(file: input.path, .invalidHeader("format version 0"), offset: 8) }
        guard version <= TraceFormatVersion.current else {
            throw TraceError(
                file: input.path, .unsupportedVersion(found: version, highestSupported: TraceFormatVersion.current),
                offset: 8)
        }
        guard flags == 0 else {
            throw TraceError(
                file: input.path, .invalidHeader("unknown header flags 0x\(String(flags, radix: 16))"), offset: 10)
        }
        let len = Int(loadLE32(b.baseAddress! + 12))
        guard len <= TraceLimits.maxHeaderBytes else {
            throw TraceError(
                file: input.path,
                .limitExceeded("header of \(len) bytes exceeds the \(TraceLimits.maxHeaderBytes)-byte limit"),
                offset: 12)
        }
        guard try input.ensure(fixed + len) else {
            throw TraceError(
                file: input.path, .truncated("the header JSON is cut short (\(len) bytes announced)"),
                offset: UInt64(fixed), compressedOffset: input.compressedOffset)
        }
        let json = Data(UnsafeRawBufferPointer(rebasing: input.bytes[fixed..<(fixed + len)]))
        let h: TraceHeader
        do {
            h = try JSONDecoder().decode(TraceHeader.self, from: json)
        } catch {
            throw TraceError(
                file: input.path, .invalidHeader(BinaryTraceReader.describe(error, json: json)), offset: UInt64(fixed))
        }
        do { try h.validate(file: input.path) } catch {
            var e = error
            e.offset = UInt64(fixed)
            throw e
        }
        header = h
        self.version = version
        input.consume(fixed + len)
        pages = h.vms.map(\.pages)
        pageBytes = h.vms.map { UInt64($0.pageSize ?? h.pageSize) }
        vmIndex = VMIndexMap(h.vms)
        lastPPN = Array(repeating: 0, count: h.vms.count)
        lastGen = Array(repeating: 0, count: h.vms.count)
        counted = TraceFooter(vms: h.vms)
        storedFooter = input.seekable ? try? SeekTable.readFooter(path: input.path) : nil
    }

    static func describe(_ error: Error, json: Data? = nil) -> String {
        // Foundation reports a number out of its type's range (a negative count) as "not valid
        // JSON" with no path: when the text parses, find the number and name its key.
        if case DecodingError.dataCorrupted(let c) = error, c.codingPath.isEmpty, let json,
            let any = try? JSONSerialization.jsonObject(with: json)
        {
            return outOfRange(any, path: "") ?? "a value out of its range"
        }
        switch error {
        case DecodingError.dataCorrupted(let c) where !c.codingPath.isEmpty:
            // Valid JSON with a value out of its type's range (a negative count, say).
            return "bad value at \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case DecodingError.dataCorrupted(let c): return "not valid JSON (\(c.debugDescription))"
        case DecodingError.keyNotFound(let k, _): return "missing key \"\(k.stringValue)\""
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return "wrong type at \(path.isEmpty ? "top level" : path): \(c.debugDescription)"
        default: return "\(error)"
        }
    }

    /// The first number under a key that holds an unsigned integer (ids, counts, sizes, bits)
    /// that is negative, fractional or beyond 2^64 − 1, as "KEY: VALUE is not …".
    static func outOfRange(_ v: Any, path: String) -> String? {
        let unsigned: Set<String> = ["pageSize", "id", "pages", "minPages", "shares", "bits"]
        if let d = v as? [String: Any] {
            for k in d.keys.sorted() {
                let p = path.isEmpty ? k : path + "." + k
                if unsigned.contains(k), let n = d[k] as? NSNumber, !(d[k] is Bool) {
                    let x = n.doubleValue
                    if x < 0 || x != x.rounded() || x >= 18_446_744_073_709_551_616 {
                        return "\(p): \(n) is not an unsigned integer"
                    }
                }
                if let r = outOfRange(d[k] as Any, path: p) { return r }
            }
        } else if let a = v as? [Any] {
            for (i, x) in a.enumerated() { if let r = outOfRange(x, path: "\(path)[\(i)]") { return r } }
        }
        return nil
    }

    private func fail(_ p: TraceError.Problem, at offset: UInt64? = nil, record: UInt64? = nil) -> TraceError {
        TraceError(
            file: path, p, record: record ?? recordsRead, offset: offset ?? input.offset,
            compressedOffset: input.compressedOffset)
    }

    public func next(into batch: inout [TraceRecord]) throws(TraceError) -> Bool {
        if done { batch.removeAll(keepingCapacity: true); return false }
        guard try input.ensure(4) else {
            if input.available == 0 { throw fail(.truncated("the stream ends without a footer")) }
            throw fail(.truncated("the stream ends inside a chunk header"))
        }
        let tag = loadLE32(input.bytes.baseAddress!)
        if tag == BinaryLayout.footerTag {
            batch.removeAll(keepingCapacity: true)
            try readFooter()
            return false
        }
        guard tag == BinaryLayout.chunkTag else {
            throw fail(
                .malformed("expected a chunk or the footer, found bytes \(TraceFile.hex(Array(input.bytes.prefix(4))))")
            )
        }
        guard try input.ensure(BinaryLayout.chunkHeaderSize) else {
            throw fail(.truncated("the stream ends inside a chunk header"))
        }
        let hp = input.bytes.baseAddress!
        let len = Int(loadLE32(hp + 4))
        let count = Int(loadLE32(hp + 8))
        let base = loadLE64(hp + 12)
        guard len <= TraceLimits.maxChunkPayload else {
            throw fail(.limitExceeded("chunk of \(len) bytes exceeds the \(TraceLimits.maxChunkPayload)-byte limit"))
        }
        guard count <= len, count <= TraceLimits.maxChunkRecords else {
            throw fail(.chunkMismatch("\(count) records cannot fit in \(len) bytes"))
        }
        guard base >= lastTime else { throw fail(.timeBackwards(previous: lastTime, found: base)) }
        if let f = storedFooter, count > 0 {
            guard base <= f.lastTime ?? 0 else {
                throw fail(
                    .footerMismatch("a chunk starts at \(base) µs, after the footer's last time \(f.lastTime ?? 0) µs"))
            }
            guard recordsRead + UInt64(count) <= f.records else {
                throw fail(.footerMismatch("the chunks hold more than the footer's \(f.records) records"))
            }
        }
        guard try input.ensure(BinaryLayout.chunkHeaderSize + len) else {
            throw fail(
                .truncated(
                    "a chunk of \(len) bytes is cut short after \(input.available - BinaryLayout.chunkHeaderSize)"))
        }
        let payloadOffset = input.offset + UInt64(BinaryLayout.chunkHeaderSize)
        try decodeChunk(
            UnsafeRawBufferPointer(
                rebasing: input.bytes[BinaryLayout.chunkHeaderSize..<(BinaryLayout.chunkHeaderSize + len)]),
            count: count, base: base, payloadOffset: payloadOffset, into: &batch)
        input.consume(BinaryLayout.chunkHeaderSize + len)
        if options.verifyFooter {
            counted.chunks += 1
            for r in batch { counted.count(r, vmIndex: vmIndex[r.vm.rawValue]!) }
        }
        recordsRead += UInt64(count)
        return true
    }

    private func decodeChunk(
        _ payload: UnsafeRawBufferPointer, count: Int, base: UInt64,
        payloadOffset: UInt64, into batch: inout [TraceRecord]
    ) throws(TraceError) {
        gen &+= 1
        if gen == 0 {
            for i in lastGen.indices { lastGen[i] = 0 }
            gen = 1
        }
        // Resize the reused batch to exactly `count` records; every slot is overwritten.
        if batch.count > count {
            batch.removeLast(batch.count - count)
        } else if batch.count < count {
            batch.append(contentsOf: repeatElement(TraceRecord.placeholder, count: count - batch.count))
        }
        var state = ChunkDecoder.State(time: base)
        let failure: ChunkDecoder.Failure? = batch.withUnsafeMutableBufferPointer { out in
            lastPPN.withUnsafeMutableBufferPointer { last in
                lastGen.withUnsafeMutableBufferPointer { lgen in
                    pages.withUnsafeBufferPointer { pages in
                        pageBytes.withUnsafeBufferPointer { pageBytes in
                            ChunkDecoder.decode(
                                payload, count: count, gen: gen, vmIndex: vmIndex, pages: pages, pageBytes: pageBytes,
                                version: version, last: last, lastGen: lgen, out: out, state: &state)
                        }
                    }
                }
            }
        }
        if let f = failure {
            throw TraceError(
                file: path, f.problem, record: recordsRead + UInt64(f.decoded),
                offset: payloadOffset + UInt64(f.at), compressedOffset: input.compressedOffset)
        }
        lastTime = state.time
    }

    private func readFooter() throws(TraceError) {
        guard try input.ensure(8) else { throw fail(.truncated("the footer is cut short")) }
        let len = Int(loadLE32(input.bytes.baseAddress! + 4))
        guard len <= TraceLimits.maxFooterBytes else {
            throw fail(.limitExceeded("footer of \(len) bytes exceeds the \(TraceLimits.maxFooterBytes)-byte limit"))
        }
        guard try input.ensure(8 + len) else { throw fail(.truncated("the footer is cut short")) }
        let f: TraceFooter
        do {
            f = try JSONDecoder().decode(
                TraceFooter.self, from: Data(UnsafeRawBufferPointer(rebasing: input.bytes[8..<(8 + len)])))
        } catch {
            throw fail(.malformed("invalid footer: \(BinaryTraceReader.describe(error))"))
        }
        input.consume(8 + len)
        if try input.ensure(1) {
            throw fail(.malformed("\(input.available)+ bytes after the footer"))
        }
        if options.verifyFooter {
            try compare(stored: f)
        }
        footer = f
        done = true
    }

    private func compare(stored f: TraceFooter) throws(TraceError) {
        let c = counted
        func mismatch(_ what: String, _ stored: String, _ found: String) -> TraceError {
            fail(.footerMismatch("\(what): footer says \(stored), body has \(found)"))
        }
        if f.records != c.records { throw mismatch("records", "\(f.records)", "\(c.records)") }
        if f.chunks != c.chunks { throw mismatch("chunks", "\(f.chunks)", "\(c.chunks)") }
        for k in RecordKind.allCases where f.kinds[k] != c.kinds[k] {
            throw mismatch("\(k.reportName) records", "\(f.kinds[k])", "\(c.kinds[k])")
        }
        if f.kinds.virtualAccesses != c.kinds.virtualAccesses {
            throw mismatch("virtual accesses", "\(f.kinds.virtualAccesses)", "\(c.kinds.virtualAccesses)")
        }
        if f.vms.count != c.vms.count { throw mismatch("number of VMs", "\(f.vms.count)", "\(c.vms.count)") }
        for (a, b) in zip(f.vms, c.vms) where a != b {
            if a.id != b.id { throw mismatch("VM order (vms[] follows the header)", "VM \(a.id)", "VM \(b.id)") }
            if a.records != b.records { throw mismatch("VM \(a.id) records", "\(a.records)", "\(b.records)") }
            throw mismatch("VM \(a.id) pages", "\(a.pages)", "\(b.pages)")
        }
        if f.firstTime != c.firstTime || f.lastTime != c.lastTime {
            // firstTime and lastTime are present exactly when there are event records.
            func span(_ a: UInt64?, _ b: UInt64?, _ none: String) -> String {
                a == nil && b == nil ? none : "\(a.map(String.init) ?? "?")…\(b.map(String.init) ?? "?")"
            }
            throw mismatch(
                "time span (firstTime…lastTime)", span(f.firstTime, f.lastTime, "none"),
                span(c.firstTime, c.lastTime, "none (no event records)"))
        }
    }
}

/// The hot decode loop, kept free of captured state so it compiles to straight-line code.
enum ChunkDecoder {
    struct State {
        var time: UInt64
    }

    struct Failure {
        var problem: TraceError.Problem
        /// Offset in the payload.
        var at: Int
        /// Records decoded before the problem.
        var decoded: Int
    }

    @inline(__always)
    static func varint(_ p: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UInt64? {
        if end - p >= 4 {
            let b0 = p[0]
            if b0 < 0x80 { p += 1; return UInt64(b0) }
            let b1 = p[1]
            var v = UInt64(b0 & 0x7F) | UInt64(b1 & 0x7F) << 7
            if b1 < 0x80 { p += 2; return v }
            let b2 = p[2]
            v |= UInt64(b2 & 0x7F) << 14
            if b2 < 0x80 { p += 3; return v }
            let b3 = p[3]
            v |= UInt64(b3 & 0x7F) << 21
            if b3 < 0x80 { p += 4; return v }
        }
        guard let (v, q) = varintSlow(p, end) else { return nil }
        p = q
        return v
    }

    /// The rest of `varint`: short buffers and values of 4+ bytes. Takes and returns the
    /// pointer by value so the caller's cursor stays in a register.
    @inline(never)
    static func varintSlow(_ p: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> (UInt64, UnsafePointer<UInt8>)? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        var q = p
        while true {
            guard q < end else { return nil }
            let b = q.pointee
            q += 1
            if shift == 63 && b > 1 { return nil }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return (v, q) }
            shift += 7
            if shift > 63 { return nil }
        }
    }

    /// Why a varint at `p` failed: ran past the end, or too long.
    static func varintProblem(_ p: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> TraceError.Problem {
        var q = p
        var n = 0
        while q < end {
            n += 1
            if q.pointee < 0x80 { return .overlongVarint }
            if n >= 10 { return .overlongVarint }
            q += 1
        }
        return .chunkMismatch("a record runs past the chunk's end")
    }

    static func decode(
        _ payload: UnsafeRawBufferPointer, count: Int, gen: UInt32, vmIndex: VMIndexMap,
        pages: UnsafeBufferPointer<UInt64>, pageBytes: UnsafeBufferPointer<UInt64>, version: UInt16,
        last: UnsafeMutableBufferPointer<UInt64>,
        lastGen: UnsafeMutableBufferPointer<UInt32>, out: UnsafeMutableBufferPointer<TraceRecord>,
        state: inout State
    ) -> Failure? {
        guard let raw = payload.baseAddress else {
            return count == 0
                ? nil
                : Failure(
                    problem: .chunkMismatch("0 records decoded, the chunk header announces \(count)"), at: 0, decoded: 0
                )
        }
        let start = raw.assumingMemoryBound(to: UInt8.self)
        let end = start + payload.count
        var p = start
        var time = state.time
        var vi = -1
        var vmID: UInt32 = 0
        var limit: UInt64 = 0
        var decoded = 0
        let outBase = out.baseAddress!

        /// An opcode this version does not know, or, when the bytes there are the next chunk's or
        /// the footer's tag, a chunk length that overstates its payload.
        func unknown(_ at: UnsafePointer<UInt8>) -> TraceError.Problem {
            if end - at >= 4 {
                let tag = UInt32(at[0]) | UInt32(at[1]) << 8 | UInt32(at[2]) << 16 | UInt32(at[3]) << 24
                if tag == BinaryLayout.footerTag || tag == BinaryLayout.chunkTag {
                    let what = tag == BinaryLayout.footerTag ? "the footer" : "the next chunk"
                    return .chunkMismatch(
                        "the chunk's length (\(payload.count) bytes) runs into \(what): its records end \(at - start) bytes in"
                    )
                }
            }
            return .unknownOpcode(at.pointee)
        }
        while p < end {
            let at = p
            let op = p.pointee
            p += 1
            // The common case first, with as few branches as the checks allow: one page read
            // or written, its page number a delta from the VM's last page in this chunk.
            if op & 0xFE == BinaryLayout.Op.read && vi >= 0 && decoded < count {
                guard let d = varint(&p, end) else {
                    return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                }
                let base = lastGen[vi] == gen ? last[vi] : 0
                let ppn = base &+ UInt64(bitPattern: Varint.unzigzag(d))
                guard ppn < limit else {
                    return Failure(
                        problem: .ppnOutOfRange(vm: vmID, ppn: ppn, count: 1, pages: limit), at: at - start,
                        decoded: decoded)
                }
                outBase[decoded] = TraceRecord(
                    time: Micros(time), vm: VMID(vmID), kind: op == BinaryLayout.Op.read ? .read : .write,
                    ppn: PPN(UInt32(truncatingIfNeeded: ppn)))
                last[vi] = ppn &+ 1
                lastGen[vi] = gen
                decoded += 1
                continue
            }
            if op < 0x10 || op == BinaryLayout.Op.ext {
                switch op {
                case BinaryLayout.Op.time:
                    guard let dt = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    let (t, o) = time.addingReportingOverflow(dt)
                    if o { return Failure(problem: .timeOverflow, at: at - start, decoded: decoded) }
                    time = t
                case BinaryLayout.Op.vm:
                    guard let id = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    guard id <= UInt64(UInt32.max), let i = vmIndex[UInt32(id)] else {
                        return Failure(
                            problem: .undeclaredVM(UInt32(truncatingIfNeeded: id)), at: at - start, decoded: decoded)
                    }
                    vi = i
                    vmID = UInt32(id)
                    limit = pages[i]
                case BinaryLayout.Op.ext:
                    guard varint(&p, end) != nil else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    guard let n = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    guard n <= UInt64(end - p) else {
                        return Failure(
                            problem: .chunkMismatch("an extension record runs past the chunk's end"), at: at - start,
                            decoded: decoded)
                    }
                    p += Int(n)
                default:
                    return Failure(problem: unknown(at), at: at - start, decoded: decoded)
                }
                continue
            }
            guard vi >= 0 else {
                let problem: TraceError.Problem = BinaryLayout.Op.isEvent(op) ? .noVMSelected : unknown(at)
                return Failure(problem: problem, at: at - start, decoded: decoded)
            }
            guard decoded < count else {
                // An unknown opcode is named as such, not counted as one record too many.
                let problem: TraceError.Problem =
                    BinaryLayout.Op.isEvent(op)
                    ? .chunkMismatch("more records than the \(count) the chunk header announces") : unknown(at)
                return Failure(problem: problem, at: at - start, decoded: decoded)
            }
            let rec = outBase + decoded
            rec.pointee = TraceRecord(time: Micros(time), vm: VMID(vmID), kind: .read)
            switch op {
            case BinaryLayout.Op.powerOn:
                rec.pointee.kind = .powerOn
            case BinaryLayout.Op.powerOff:
                rec.pointee.kind = .powerOff
            case BinaryLayout.Op.read...BinaryLayout.Op.writeVirtual,
                BinaryLayout.Op.content...BinaryLayout.Op.freeRun,
                BinaryLayout.Op.contentSized where version >= 2:
                let base = lastGen[vi] == gen ? last[vi] : 0
                guard let d = varint(&p, end) else {
                    return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                }
                let ppn = base &+ UInt64(bitPattern: Varint.unzigzag(d))
                var n: UInt64 = 1
                switch op {
                case BinaryLayout.Op.read: break
                case BinaryLayout.Op.write: rec.pointee.kind = .write
                case BinaryLayout.Op.readRun, BinaryLayout.Op.writeRun:
                    rec.pointee.kind = op == BinaryLayout.Op.readRun ? .read : .write
                    guard let c = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    n = c
                case BinaryLayout.Op.readVirtual, BinaryLayout.Op.writeVirtual:
                    rec.pointee.kind = op == BinaryLayout.Op.readVirtual ? .read : .write
                    guard let asid = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    guard asid <= UInt64(UInt32.max) else {
                        return Failure(
                            problem: .malformed("address space id \(asid) exceeds 32 bits"), at: at - start,
                            decoded: decoded)
                    }
                    guard let vpn = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    rec.pointee.hasVirtual = true
                    rec.pointee.asid = ASID(UInt32(asid))
                    rec.pointee.vpn = VPN(vpn)
                case BinaryLayout.Op.content, BinaryLayout.Op.contentSized:
                    rec.pointee.kind = .content
                    guard end - p >= 8 else {
                        return Failure(
                            problem: .chunkMismatch("a content record runs past the chunk's end"), at: at - start,
                            decoded: decoded)
                    }
                    rec.pointee.hash = ContentHash(
                        UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)))
                    p += 8
                    guard op == BinaryLayout.Op.contentSized else { break }
                    guard let z = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    guard z >= 1, z <= pageBytes[vi] else {
                        return Failure(
                            problem: .malformed(
                                "compressed size \(z) bytes is not in 1…\(pageBytes[vi]) (the page size)"),
                            at: at - start, decoded: decoded)
                    }
                    rec.pointee.compressedSize = UInt32(z)
                case BinaryLayout.Op.zero: rec.pointee.kind = .zero
                case BinaryLayout.Op.zeroRun:
                    rec.pointee.kind = .zero
                    guard let c = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    n = c
                case BinaryLayout.Op.free: rec.pointee.kind = .free
                case BinaryLayout.Op.freeRun:
                    rec.pointee.kind = .free
                    guard let c = varint(&p, end) else {
                        return Failure(problem: varintProblem(p, end), at: at - start, decoded: decoded)
                    }
                    n = c
                default: return Failure(problem: unknown(at), at: at - start, decoded: decoded)
                }
                guard n >= 1, n <= UInt64(UInt32.max), ppn < limit, n <= limit - ppn else {
                    if n == 0 {
                        return Failure(problem: .malformed("run of 0 pages"), at: at - start, decoded: decoded)
                    }
                    if n > UInt64(UInt32.max) {
                        return Failure(
                            problem: .malformed("run of \(n) pages; a run is at most 2^32 − 1 pages"), at: at - start,
                            decoded: decoded)
                    }
                    return Failure(
                        problem: .ppnOutOfRange(vm: vmID, ppn: ppn, count: n, pages: limit), at: at - start,
                        decoded: decoded)
                }
                rec.pointee.ppn = PPN(UInt32(truncatingIfNeeded: ppn))
                rec.pointee.count = UInt32(truncatingIfNeeded: n)
                last[vi] = ppn &+ n
                lastGen[vi] = gen
            default:
                return Failure(problem: unknown(at), at: at - start, decoded: decoded)
            }
            decoded += 1
        }
        guard decoded == count else {
            return Failure(
                problem: .chunkMismatch("\(decoded) records decoded, the chunk header announces \(count)"),
                at: payload.count, decoded: decoded)
        }
        state.time = time
        return nil
    }
}
