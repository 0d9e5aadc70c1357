import Foundation

/// Streams records into a `*.mtr.zst` file: varint records in chunks, zstd frames of a few MiB
/// each with content checksums, the footer in a frame of its own, and a seek table in zstd's
/// seekable-format convention at the end. Frames are compressed and written on a thread of
/// their own (FrameCompressor), the same bytes as on this one. Memory stays bounded by a few
/// frames and zstd's state.
public final class BinaryTraceWriter: TraceSink {
    public let header: TraceHeader
    public let path: String
    private let out: AtomicOutput
    private let compressor: FrameCompressor
    @exclusivity(unchecked) private var checker: SinkChecker
    private let frameBytes: Int
    private let chunkBytes: Int

    @exclusivity(unchecked) private var payload: ChunkPayload
    @exclusivity(unchecked) private var chunkRecords: UInt32 = 0
    @exclusivity(unchecked) private var chunkBaseTime: UInt64 = 0
    @exclusivity(unchecked) private var chunkOpen = false
    @exclusivity(unchecked) private var time: UInt64 = 0
    @exclusivity(unchecked) private var currentVM: Int = -1
    @exclusivity(unchecked) private var lastPPN: [UInt64]
    @exclusivity(unchecked) private var lastGen: [UInt32]
    @exclusivity(unchecked) private var gen: UInt32 = 1

    /// The frame being filled: its raw bytes, and where each piece handed to zstd ends.
    @exclusivity(unchecked) private var frame: [UInt8] = []
    @exclusivity(unchecked) private var pieces: [Int] = []
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
        // `-`: standard output, for a pipe (AtomicOutput.init(stdout:)).
        out = path == TraceFile.stdinPath ? try AtomicOutput(stdout: ()) : try AtomicOutput(path: path)
        do {
            compressor = try FrameCompressor(path: path, out: out, level: level)
        } catch {
            out.abandon()
            throw error
        }
        payload = ChunkPayload(capacity: self.chunkBytes + ChunkPayload.maxRecordBytes)
        frame.reserveCapacity(frameBytes + self.chunkBytes + 64)

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
        compress(head)
    }

    deinit {
        compressor.stop()
        payload.deallocate()
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
            payload.varint(r.time.rawValue - time)
            time = r.time.rawValue
        }
        if vi != currentVM {
            payload.append(BinaryLayout.Op.vm)
            payload.varint(UInt64(r.vm.rawValue))
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
                    payload.varint(delta)
                    payload.varint(UInt64(r.asid.rawValue))
                    payload.varint(r.vpn.rawValue)
                } else {
                    payload.append((run ? BinaryLayout.Op.readRun : BinaryLayout.Op.read) | w)
                    payload.varint(delta)
                    if run { payload.varint(UInt64(r.count)) }
                }
            case .content:
                payload.append(r.compressedSize > 0 ? BinaryLayout.Op.contentSized : BinaryLayout.Op.content)
                payload.varint(delta)
                payload.le64(r.hash.rawValue)
                if r.compressedSize > 0 { payload.varint(UInt64(r.compressedSize)) }
            case .zero:
                payload.append(run ? BinaryLayout.Op.zeroRun : BinaryLayout.Op.zero)
                payload.varint(delta)
                if run { payload.varint(UInt64(r.count)) }
            case .free:
                payload.append(run ? BinaryLayout.Op.freeRun : BinaryLayout.Op.free)
                payload.varint(delta)
                if run { payload.varint(UInt64(r.count)) }
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
        compress(head)
        compress(payload.bytes)
        checker.footer.chunks += 1
        payload.reset()
        chunkRecords = 0
        chunkOpen = false
        if frameRaw >= frameBytes { try endFrame() }
    }

    /// Adds a piece to the current frame (zstd is given it as one input, on the compressor's
    /// thread).
    private func compress<C: Collection<UInt8>>(_ bytes: C) {
        frame.append(contentsOf: bytes)
        pieces.append(frame.count)
    }

    private var frameRaw: Int { frame.count }

    /// Hands the current frame to the compressor and starts the next.
    private func endFrame() throws(TraceError) {
        guard !frame.isEmpty else { return }
        let full = FrameCompressor.Frame(bytes: frame, pieces: pieces)
        frame = compressor.spare()
        frame.reserveCapacity(frameBytes + chunkBytes + 64)
        pieces.removeAll(keepingCapacity: true)
        try compressor.submit(full)
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
        compress(foot)
        try endFrame()
        let seekEntries = try compressor.drain()
        compressor.stop()
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
        compressor.stop()
        out.abandon()
    }
}

/// A chunk's payload as it is encoded: a fixed buffer with room for one more record beyond
/// the chunk size (the writer closes the chunk once it reaches that size).
struct ChunkPayload {
    /// The most bytes one record adds: time and VM ops (1 + 10, 1 + 5) and a content record
    /// (op, delta, hash, size: 1 + 10 + 8 + 10), rounded up.
    static let maxRecordBytes = 64
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    func deallocate() { base.deallocate() }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    mutating func reset() { count = 0 }

    @inline(__always) mutating func append(_ b: UInt8) {
        precondition(count < capacity, "chunk payload overflow")
        base[count] = b
        count += 1
    }

    /// `v` as unsigned LEB128 (`Varint.store`).
    @inline(__always) mutating func varint(_ v: UInt64) {
        precondition(count + 10 <= capacity, "chunk payload overflow")
        count += Varint.store(v, at: base + count)
    }

    /// `v` in 8 little-endian bytes.
    @inline(__always) mutating func le64(_ v: UInt64) {
        precondition(count + 8 <= capacity, "chunk payload overflow")
        UnsafeMutableRawPointer(base + count).storeBytes(of: v.littleEndian, as: UInt64.self)
        count += 8
    }
}
