import CZstd
import Foundation

/// Compresses a binary trace's zstd frames on a thread of its own and writes them, in order,
/// to the output: the writer encodes records while the previous frame is compressed.
///
/// Contract: `submit` takes one whole frame (its raw bytes and where each of the writer's
/// pieces ends) and returns once at most `depth` frames wait; the thread feeds each piece to
/// zstd as the writer would have on its own thread (`ZSTD_e_continue` per piece, then
/// `ZSTD_e_end`), so the bytes written are the same whatever the timing. The first error
/// (zstd, or writing) stops the work; `submit` and `drain` then throw it. `drain` waits for
/// every frame to be written and returns the seek table's entries; `stop` ends the thread
/// without waiting for the queue (for an abandoned output). The output is the thread's
/// between the first `submit` and `drain` or `stop`.
final class FrameCompressor: @unchecked Sendable {
    struct Frame {
        var bytes: [UInt8]
        /// The end offset of each piece, ascending; the last is `bytes.count`.
        var pieces: [Int]
    }

    private let path: String
    private let out: AtomicOutput
    private let cctx: OpaquePointer
    private let outBuf: UnsafeMutableRawBufferPointer
    private let depth: Int
    private let worker = WorkerThread()
    private var cond: NSCondition { worker.cond }
    private var stopped: Bool { worker.stopped }
    @exclusivity(unchecked) private var queue: [Frame] = []
    @exclusivity(unchecked) private var busy = false
    @exclusivity(unchecked) private var failure: TraceError?
    @exclusivity(unchecked) private var spares: [[UInt8]] = []
    @exclusivity(unchecked) private(set) var seekEntries: [(compressed: UInt32, raw: UInt32)] = []

    init(path: String, out: AtomicOutput, level: Int32, depth: Int = 2) throws(TraceError) {
        guard let c = ZSTD_createCCtx() else { throw TraceError(file: path, .io("out of memory")) }
        self.path = path
        self.out = out
        self.depth = depth
        cctx = c
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        outBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        worker.start { self.run() }
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        outBuf.deallocate()
    }

    /// A buffer for the next frame (one the thread is done with, when there is one).
    func spare() -> [UInt8] {
        cond.lock()
        defer { cond.unlock() }
        return spares.popLast() ?? []
    }

    /// Queues a whole frame; waits while `depth` frames wait already.
    func submit(_ frame: Frame) throws(TraceError) {
        cond.lock()
        while queue.count >= depth && failure == nil && !stopped { cond.wait() }
        if let failure {
            cond.unlock()
            throw failure
        }
        queue.append(frame)
        cond.broadcast()
        cond.unlock()
    }

    /// Waits until every queued frame is written; the seek table's entries so far.
    func drain() throws(TraceError) -> [(compressed: UInt32, raw: UInt32)] {
        cond.lock()
        while (!queue.isEmpty || busy) && failure == nil { cond.wait() }
        let f = failure
        cond.unlock()
        if let f { throw f }
        return seekEntries
    }

    /// Ends the thread and waits for it (once; later calls return at once).
    func stop() { worker.stop() }

    private func run() {
        while true {
            cond.lock()
            while queue.isEmpty && !stopped { cond.wait() }
            if stopped {
                cond.unlock()
                return
            }
            var frame = queue.removeFirst()
            busy = true
            cond.unlock()
            var failed: TraceError?
            do throws(TraceError) { try compress(frame) } catch { failed = error }
            frame.bytes.removeAll(keepingCapacity: true)
            cond.lock()
            busy = false
            if let failed, failure == nil { failure = failed }
            if spares.count < depth + 1 { spares.append(frame.bytes) }
            cond.broadcast()
            cond.unlock()
            if failed != nil { return }
        }
    }

    private func compress(_ frame: Frame) throws(TraceError) {
        var compressed = 0
        var start = 0
        var failure: TraceError?
        frame.bytes.withUnsafeBytes { all in
            do throws(TraceError) {
                for end in frame.pieces {
                    compressed += try feed(UnsafeRawBufferPointer(rebasing: all[start..<end]), end: false)
                    start = end
                }
                compressed += try feed(UnsafeRawBufferPointer(start: nil, count: 0), end: true)
            } catch { failure = error }
        }
        if let failure { throw failure }
        seekEntries.append((UInt32(compressed), UInt32(frame.bytes.count)))
    }

    /// One `ZSTD_compressStream2` loop over `bytes`; the compressed bytes written.
    private func feed(_ bytes: UnsafeRawBufferPointer, end: Bool) throws(TraceError) -> Int {
        var written = 0
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        let mode = end ? ZSTD_e_end : ZSTD_e_continue
        while true {
            var o = ZSTD_outBuffer(dst: outBuf.baseAddress, size: outBuf.count, pos: 0)
            let r = ZSTD_compressStream2(cctx, &o, &input, mode)
            if ZSTD_isError(r) != 0 {
                throw TraceError(file: path, .io("zstd: \(String(cString: ZSTD_getErrorName(r)))"))
            }
            if o.pos > 0 {
                try out.write(UnsafeRawBufferPointer(rebasing: outBuf[0..<o.pos]))
                written += o.pos
            }
            if end ? r == 0 : input.pos == input.size { break }
        }
        return written
    }
}
