import Foundation

/// Decodes a binary trace chunk by chunk; each call to `next` yields one chunk's records.
public final class BinaryTraceReader: TraceReader {
    public let path: String
    public let header: TraceHeader
    public var encoding: TraceEncoding { .binary }
    public private(set) var recordsRead: UInt64 = 0
    public private(set) var footer: TraceFooter?
    private let input: RawInput
    private let options: ReadOptions
    private var done = false
    private var lastTime: UInt64 = 0
    private var vmIndex: [UInt32: Int] = [:]
    private var pages: [UInt64]
    private var lastPPN: [UInt64]
    private var lastGen: [UInt32]
    private var gen: UInt32 = 0
    private var counted: TraceFooter

    public var rawOffset: UInt64 { input.offset }
    public var fileOffset: UInt64 { input.compressedOffset ?? input.offset }

    init(input: RawInput, options: ReadOptions) throws(TraceError) {
        path = input.path
        self.input = input
        self.options = options
        let fixed = BinaryLayout.fixedHeaderSize
        guard try input.ensure(fixed) else {
            if input.available >= BinaryLayout.magic.count, Array(input.bytes.prefix(8)) == BinaryLayout.magic {
                throw TraceError(file: input.path, .truncated("the header is cut short"), offset: UInt64(input.available),
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
            throw TraceError(file: input.path, .unsupportedVersion(found: version, highestSupported: TraceFormatVersion.current), offset: 8)
        }
        guard flags == 0 else {
            throw TraceError(file: input.path, .invalidHeader("unknown header flags 0x\(String(flags, radix: 16))"), offset: 10)
        }
        let len = Int(loadLE32(b.baseAddress! + 12))
        guard len <= TraceLimits.maxHeaderBytes else {
            throw TraceError(file: input.path, .limitExceeded("header of \(len) bytes exceeds the \(TraceLimits.maxHeaderBytes)-byte limit"), offset: 12)
        }
        guard try input.ensure(fixed + len) else {
            throw TraceError(file: input.path, .truncated("the header JSON is cut short (\(len) bytes announced)"),
                             offset: UInt64(fixed), compressedOffset: input.compressedOffset)
        }
        let json = Data(UnsafeRawBufferPointer(rebasing: input.bytes[fixed..<(fixed + len)]))
        let h: TraceHeader
        do {
            h = try JSONDecoder().decode(TraceHeader.self, from: json)
        } catch {
            throw TraceError(file: input.path, .invalidHeader(BinaryTraceReader.describe(error)), offset: UInt64(fixed))
        }
        do { try h.validate(file: input.path) } catch {
            var e = error
            e.offset = UInt64(fixed)
            throw e
        }
        header = h
        input.consume(fixed + len)
        pages = h.vms.map(\.pages)
        for (i, vm) in h.vms.enumerated() { vmIndex[vm.id] = i }
        lastPPN = Array(repeating: 0, count: h.vms.count)
        lastGen = Array(repeating: 0, count: h.vms.count)
        counted = TraceFooter(vms: h.vms)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "not valid JSON (\(c.debugDescription))"
        case DecodingError.keyNotFound(let k, _): return "missing key \"\(k.stringValue)\""
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return "wrong type at \(path.isEmpty ? "top level" : path): \(c.debugDescription)"
        default: return "\(error)"
        }
    }

    private func fail(_ p: TraceError.Problem, at offset: UInt64? = nil, record: UInt64? = nil) -> TraceError {
        TraceError(file: path, p, record: record ?? recordsRead, offset: offset ?? input.offset,
                   compressedOffset: input.compressedOffset)
    }

    public func next(into batch: inout [TraceRecord]) throws(TraceError) -> Bool {
        batch.removeAll(keepingCapacity: true)
        if done { return false }
        guard try input.ensure(4) else {
            if input.available == 0 { throw fail(.truncated("the stream ends without a footer")) }
            throw fail(.truncated("the stream ends inside a chunk header"))
        }
        let tag = loadLE32(input.bytes.baseAddress!)
        if tag == BinaryLayout.footerTag {
            try readFooter()
            return false
        }
        guard tag == BinaryLayout.chunkTag else {
            throw fail(.malformed("expected a chunk or the footer, found bytes \(TraceFile.hex(Array(input.bytes.prefix(4))))"))
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
        guard try input.ensure(BinaryLayout.chunkHeaderSize + len) else {
            throw fail(.truncated("a chunk of \(len) bytes is cut short after \(input.available - BinaryLayout.chunkHeaderSize)"))
        }
        let payloadOffset = input.offset + UInt64(BinaryLayout.chunkHeaderSize)
        batch.reserveCapacity(count)
        try decodeChunk(UnsafeRawBufferPointer(rebasing: input.bytes[BinaryLayout.chunkHeaderSize..<(BinaryLayout.chunkHeaderSize + len)]),
                        count: count, base: base, payloadOffset: payloadOffset, into: &batch)
        input.consume(BinaryLayout.chunkHeaderSize + len)
        if options.verifyFooter {
            counted.chunks += 1
            for r in batch { counted.count(r, vmIndex: vmIndex[r.vm.rawValue]!) }
        }
        recordsRead += UInt64(count)
        return true
    }

    private func decodeChunk(_ payload: UnsafeRawBufferPointer, count: Int, base: UInt64,
                             payloadOffset: UInt64, into batch: inout [TraceRecord]) throws(TraceError) {
        gen &+= 1
        if gen == 0 {
            for i in lastGen.indices { lastGen[i] = 0 }
            gen = 1
        }
        var time = base
        var vi = -1
        var vmID: UInt32 = 0
        var limit: UInt64 = 0
        var decoded = 0
        let start = payload.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let end = start + payload.count
        var p = start
        let gen = self.gen

        func err(_ problem: TraceError.Problem, _ at: UnsafePointer<UInt8>) -> TraceError {
            TraceError(file: path, problem, record: recordsRead + UInt64(decoded),
                       offset: payloadOffset + UInt64(at - start), compressedOffset: input.compressedOffset)
        }

        @inline(__always)
        func varint(_ p: inout UnsafePointer<UInt8>) throws(TraceError) -> UInt64 {
            if p < end, p.pointee < 0x80 {
                let v = UInt64(p.pointee)
                p += 1
                return v
            }
            return try varintSlow(&p)
        }

        func varintSlow(_ p: inout UnsafePointer<UInt8>) throws(TraceError) -> UInt64 {
            let at = p
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard p < end else { throw err(.chunkMismatch("a record runs past the chunk's end"), at) }
                let b = p.pointee
                p += 1
                if shift == 63 && b > 1 { throw err(.overlongVarint, at) }
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
                if shift > 63 { throw err(.overlongVarint, at) }
            }
        }

        while p < end {
            let at = p
            let op = p.pointee
            p += 1
            switch op {
            case BinaryLayout.Op.time:
                let dt = try varint(&p)
                let (t, o) = time.addingReportingOverflow(dt)
                if o { throw err(.timeOverflow, at) }
                time = t
                continue
            case BinaryLayout.Op.vm:
                let id = try varint(&p)
                guard id <= UInt64(UInt32.max), let i = vmIndex[UInt32(id)] else {
                    throw err(.undeclaredVM(UInt32(truncatingIfNeeded: id)), at)
                }
                vi = i
                vmID = UInt32(id)
                limit = pages[i]
                continue
            case BinaryLayout.Op.ext:
                _ = try varint(&p)
                let n = try varint(&p)
                guard n <= UInt64(end - p) else { throw err(.chunkMismatch("an extension record runs past the chunk's end"), at) }
                p += Int(n)
                continue
            default:
                break
            }
            guard vi >= 0 else { throw err(.noVMSelected, at) }
            guard decoded < count else { throw err(.chunkMismatch("more records than the \(count) the chunk header announces"), at) }
            var rec = TraceRecord(time: Micros(time), vm: VMID(vmID), kind: .read)
            switch op {
            case BinaryLayout.Op.powerOn:
                rec.kind = .powerOn
            case BinaryLayout.Op.powerOff:
                rec.kind = .powerOff
            case BinaryLayout.Op.read ... BinaryLayout.Op.writeVirtual,
                 BinaryLayout.Op.content ... BinaryLayout.Op.freeRun:
                let last = lastGen[vi] == gen ? lastPPN[vi] : 0
                let ppn = last &+ UInt64(bitPattern: Varint.unzigzag(try varint(&p)))
                var n: UInt64 = 1
                switch op {
                case BinaryLayout.Op.read: rec.kind = .read
                case BinaryLayout.Op.write: rec.kind = .write
                case BinaryLayout.Op.readRun, BinaryLayout.Op.writeRun:
                    rec.kind = op == BinaryLayout.Op.readRun ? .read : .write
                    n = try varint(&p)
                case BinaryLayout.Op.readVirtual, BinaryLayout.Op.writeVirtual:
                    rec.kind = op == BinaryLayout.Op.readVirtual ? .read : .write
                    let asid = try varint(&p)
                    guard asid <= UInt64(UInt32.max) else { throw err(.malformed("address space id \(asid) exceeds 32 bits"), at) }
                    rec.hasVirtual = true
                    rec.asid = ASID(UInt32(asid))
                    rec.vpn = VPN(try varint(&p))
                case BinaryLayout.Op.content:
                    rec.kind = .content
                    guard end - p >= 8 else { throw err(.chunkMismatch("a content record runs past the chunk's end"), at) }
                    rec.hash = ContentHash(UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)))
                    p += 8
                case BinaryLayout.Op.zero: rec.kind = .zero
                case BinaryLayout.Op.zeroRun: rec.kind = .zero; n = try varint(&p)
                case BinaryLayout.Op.free: rec.kind = .free
                case BinaryLayout.Op.freeRun: rec.kind = .free; n = try varint(&p)
                default: throw err(.unknownOpcode(op), at)
                }
                guard n >= 1, ppn < limit, n <= limit - ppn else {
                    if n == 0 { throw err(.malformed("run of 0 pages"), at) }
                    throw err(.ppnOutOfRange(vm: vmID, ppn: ppn, count: n, pages: limit), at)
                }
                rec.ppn = PPN(UInt32(ppn))
                rec.count = UInt32(n)
                lastPPN[vi] = ppn + n
                lastGen[vi] = gen
            default:
                throw err(.unknownOpcode(op), at)
            }
            batch.append(rec)
            decoded += 1
        }
        guard decoded == count else {
            throw err(.chunkMismatch("\(decoded) records decoded, the chunk header announces \(count)"), end)
        }
        lastTime = time
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
            f = try JSONDecoder().decode(TraceFooter.self, from: Data(UnsafeRawBufferPointer(rebasing: input.bytes[8..<(8 + len)])))
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
        if f.vms != c.vms { throw mismatch("per-VM totals", "\(f.vms.map(\.records))", "\(c.vms.map(\.records))") }
        if f.firstTime != c.firstTime || f.lastTime != c.lastTime {
            throw mismatch("time span", "\(f.firstTime ?? 0)…\(f.lastTime ?? 0)", "\(c.firstTime ?? 0)…\(c.lastTime ?? 0)")
        }
    }
}
