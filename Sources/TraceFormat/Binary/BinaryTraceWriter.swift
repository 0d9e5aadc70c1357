import CZstd
import Foundation

/// Streams records into a `*.mtr.zst` file: varint records in chunks, zstd frames of a few MiB
/// each with content checksums, the footer in a frame of its own, and a seek table in zstd's
/// seekable-format convention at the end. Memory stays bounded by one chunk and zstd's state.
public final class BinaryTraceWriter: TraceSink {
    public let header: TraceHeader
    public let path: String
    private let out: AtomicOutput
    private let cctx: OpaquePointer
    @exclusivity(unchecked) private var checker: SinkChecker
    private let frameBytes: Int
    private let chunkBytes: Int

    @exclusivity(unchecked) private var payload: [UInt8] = []
    @exclusivity(unchecked) private var chunkRecords: UInt32 = 0
    @exclusivity(unchecked) private var chunkBaseTime: UInt64 = 0
    @exclusivity(unchecked) private var chunkOpen = false
    @exclusivity(unchecked) private var time: UInt64 = 0
    @exclusivity(unchecked) private var currentVM: Int = -1
    @exclusivity(unchecked) private var lastPPN: [UInt64]
    @exclusivity(unchecked) private var lastGen: [UInt32]
    @exclusivity(unchecked) private var gen: UInt32 = 1

    @exclusivity(unchecked) private var frameRaw = 0
    @exclusivity(unchecked) private var frameCompressed = 0
    @exclusivity(unchecked) private var seekEntries: [(compressed: UInt32, raw: UInt32)] = []
    @exclusivity(unchecked) private var outBuf: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private var finished = false

    /// - Parameters:
    ///   - level: zstd compression level (1…19; 3 by default).
    ///   - frameBytes: raw bytes after which the current zstd frame is ended.
    ///   - chunkBytes: payload bytes after which the current chunk is closed.
    public init(
        path: String, header: TraceHeader, level: Int32 = 3,
        frameBytes: Int = 4 << 20, chunkBytes: Int = 128 << 10
    ) throws(TraceError) {
        try header.validate(file: path)
        self.header = header
        self.path = path
        self.frameBytes = frameBytes
        self.chunkBytes = min(chunkBytes, TraceLimits.maxChunkPayload / 2)
        checker = SinkChecker(path: path, header: header)
        lastPPN = Array(repeating: 0, count: header.vms.count)
        lastGen = Array(repeating: 0, count: header.vms.count)
        guard let c = ZSTD_createCCtx() else { throw TraceError(file: path, .io("out of memory")) }
        cctx = c
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        outBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        // `-`: standard output, for a pipe (AtomicOutput.init(stdout:)).
        out = path == TraceFile.stdinPath ? try AtomicOutput(stdout: ()) : try AtomicOutput(path: path)
        payload.reserveCapacity(self.chunkBytes + 64)

        var head = BinaryLayout.magic
        head.append(UInt8(TraceFormatVersion.current & 0xFF))
        head.append(UInt8(TraceFormatVersion.current >> 8))
        head.append(0); head.append(0)
        let json: [UInt8]
        do { json = Array(try JSONEncoder.canonical().encode(header)) } catch {
            throw TraceError(file: path, .invalidHeader("cannot encode: \(error)"))
        }
        appendLE32(UInt32(json.count), &head)
        head.append(contentsOf: json)
        try compress(head, end: false)
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        outBuf.deallocate()
    }

    public func append(_ r: TraceRecord) throws(TraceError) {
        let vi = try checker.check(r)
        if !chunkOpen {
            chunkOpen = true
            chunkBaseTime = r.time.rawValue
            time = r.time.rawValue
            currentVM = -1
            gen &+= 1
            if gen == 0 { lastGen = Array(repeating: 0, count: lastGen.count); gen = 1 }
        }
        if r.time.rawValue != time {
            payload.append(BinaryLayout.Op.time)
            Varint.append(r.time.rawValue - time, to: &payload)
            time = r.time.rawValue
        }
        if vi != currentVM {
            payload.append(BinaryLayout.Op.vm)
            Varint.append(UInt64(r.vm.rawValue), to: &payload)
            currentVM = vi
        }
        if r.kind == .powerOn || r.kind == .powerOff {
            payload.append(r.kind == .powerOn ? BinaryLayout.Op.powerOn : BinaryLayout.Op.powerOff)
        } else {
            let last = lastGen[vi] == gen ? lastPPN[vi] : 0
            let ppn = UInt64(r.ppn.rawValue)
            let delta = Varint.zigzag(Int64(bitPattern: ppn &- last))
            let run = r.count > 1
            switch r.kind {
            case .read, .write:
                let w: UInt8 = r.kind == .write ? 1 : 0
                if r.hasVirtual {
                    payload.append(BinaryLayout.Op.readVirtual | w)
                    Varint.append(delta, to: &payload)
                    Varint.append(UInt64(r.asid.rawValue), to: &payload)
                    Varint.append(r.vpn.rawValue, to: &payload)
                } else {
                    payload.append((run ? BinaryLayout.Op.readRun : BinaryLayout.Op.read) | w)
                    Varint.append(delta, to: &payload)
                    if run { Varint.append(UInt64(r.count), to: &payload) }
                }
            case .content:
                payload.append(r.compressedSize > 0 ? BinaryLayout.Op.contentSized : BinaryLayout.Op.content)
                Varint.append(delta, to: &payload)
                appendLE64(r.hash.rawValue, &payload)
                if r.compressedSize > 0 { Varint.append(UInt64(r.compressedSize), to: &payload) }
            case .zero:
                payload.append(run ? BinaryLayout.Op.zeroRun : BinaryLayout.Op.zero)
                Varint.append(delta, to: &payload)
                if run { Varint.append(UInt64(r.count), to: &payload) }
            case .free:
                payload.append(run ? BinaryLayout.Op.freeRun : BinaryLayout.Op.free)
                Varint.append(delta, to: &payload)
                if run { Varint.append(UInt64(r.count), to: &payload) }
            case .powerOn, .powerOff:
                break
            }
            lastPPN[vi] = ppn + UInt64(r.count)
            lastGen[vi] = gen
        }
        chunkRecords += 1
        if payload.count >= chunkBytes || chunkRecords >= UInt32(TraceLimits.maxChunkRecords) {
            try closeChunk()
        }
    }

    private func closeChunk() throws(TraceError) {
        guard chunkOpen else { return }
        var head: [UInt8] = []
        head.reserveCapacity(BinaryLayout.chunkHeaderSize)
        appendLE32(BinaryLayout.chunkTag, &head)
        appendLE32(UInt32(payload.count), &head)
        appendLE32(chunkRecords, &head)
        appendLE64(chunkBaseTime, &head)
        try compress(head, end: false)
        try compress(payload, end: false)
        checker.footer.chunks += 1
        payload.removeAll(keepingCapacity: true)
        chunkRecords = 0
        chunkOpen = false
        if frameRaw >= frameBytes { try endFrame() }
    }

    private func compress(_ bytes: [UInt8], end: Bool) throws(TraceError) {
        frameRaw += bytes.count
        var failure: TraceError?
        bytes.withUnsafeBytes { p in
            do throws(TraceError) {
                var input = ZSTD_inBuffer(src: p.baseAddress, size: p.count, pos: 0)
                let mode = end ? ZSTD_e_end : ZSTD_e_continue
                while true {
                    var o = ZSTD_outBuffer(dst: outBuf.baseAddress, size: outBuf.count, pos: 0)
                    let r = ZSTD_compressStream2(cctx, &o, &input, mode)
                    if ZSTD_isError(r) != 0 {
                        throw TraceError(file: path, .io("zstd: \(String(cString: ZSTD_getErrorName(r)))"))
                    }
                    if o.pos > 0 {
                        try out.write(UnsafeRawBufferPointer(rebasing: outBuf[0..<o.pos]))
                        frameCompressed += o.pos
                    }
                    if end ? r == 0 : input.pos == input.size { break }
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private func endFrame() throws(TraceError) {
        guard frameRaw > 0 else { return }
        try compress([], end: true)
        seekEntries.append((UInt32(frameCompressed), UInt32(frameRaw)))
        frameRaw = 0
        frameCompressed = 0
    }

    @discardableResult
    public func finish() throws(TraceError) -> TraceFooter {
        precondition(!finished, "finish() called twice")
        finished = true
        try closeChunk()
        try endFrame()
        var foot: [UInt8] = []
        let json: [UInt8]
        do { json = Array(try JSONEncoder.canonical().encode(checker.footer)) } catch {
            throw TraceError(file: path, .io("cannot encode footer: \(error)"))
        }
        appendLE32(BinaryLayout.footerTag, &foot)
        appendLE32(UInt32(json.count), &foot)
        foot.append(contentsOf: json)
        try compress(foot, end: false)
        try endFrame()
        // Seek table (zstd seekable format, no per-frame checksums).
        var table: [UInt8] = []
        appendLE32(BinaryLayout.seekTableFrameMagic, &table)
        appendLE32(UInt32(seekEntries.count * 8 + 9), &table)
        for e in seekEntries {
            appendLE32(e.compressed, &table)
            appendLE32(e.raw, &table)
        }
        appendLE32(UInt32(seekEntries.count), &table)
        table.append(0)
        appendLE32(BinaryLayout.seekableMagic, &table)
        try out.write(table)
        try out.commit()
        return checker.footer
    }

    /// Leaves the destination untouched and deletes the partial output.
    public func abandon() {
        finished = true
        out.abandon()
    }
}
