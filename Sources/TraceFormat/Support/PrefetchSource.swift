import Foundation

/// Decompresses on a second thread while the caller decodes: a bounded queue of filled blocks
/// between a producer (zstd) and the consumer (the record decoder). The bytes are the same as
/// reading the source directly, so output never depends on threads. Memory: at most
/// `depth` blocks of `blockSize` bytes.
final class PrefetchSource: ByteSource, @unchecked Sendable {
    private final class Shared: @unchecked Sendable {
        let lock = NSCondition()
        var full: [[UInt8]] = []
        var error: TraceError?
        var done = false
        var cancelled = false
        var compressedOffset: UInt64?
    }

    private let shared = Shared()
    @exclusivity(unchecked) private var current: [UInt8] = []
    @exclusivity(unchecked) private var pos = 0
    private let depth: Int

    init(source: ByteSource, blockSize: Int = 1 << 20, depth: Int = 4) {
        self.depth = depth
        let shared = self.shared
        // The producer thread is the only user of `source` from here on.
        final class Box: @unchecked Sendable {
            let source: ByteSource
            init(_ s: ByteSource) { source = s }
        }
        let box = Box(source)
        let thread = Thread {
            let source = box.source
            while true {
                var block = [UInt8](repeating: 0, count: blockSize)
                var n = 0
                var failure: TraceError?
                do {
                    n = try block.withUnsafeMutableBytes { (p) throws(TraceError) -> Int in
                        var got = 0
                        while got < p.count {
                            let r = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: p[got...]))
                            if r == 0 { break }
                            got += r
                        }
                        return got
                    }
                } catch let e as TraceError {
                    failure = e
                } catch {}
                block.removeLast(blockSize - n)
                shared.lock.lock()
                while shared.full.count >= depth && !shared.cancelled { shared.lock.wait() }
                if shared.cancelled { shared.lock.unlock(); return }
                if n > 0 { shared.full.append(block) }
                shared.compressedOffset = source.compressedOffset
                if let failure { shared.error = failure }
                if failure != nil || n < blockSize { shared.done = true }
                let finished = shared.done
                shared.lock.broadcast()
                shared.lock.unlock()
                if finished { return }
            }
        }
        thread.name = "tracetool-zstd"
        thread.start()
    }

    deinit {
        shared.lock.lock()
        shared.cancelled = true
        shared.lock.broadcast()
        shared.lock.unlock()
    }

    var compressedOffset: UInt64? {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        return shared.compressedOffset
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TraceError) -> Int {
        if pos == current.count {
            shared.lock.lock()
            while shared.full.isEmpty && !shared.done { shared.lock.wait() }
            if shared.full.isEmpty {
                let e = shared.error
                shared.lock.unlock()
                if let e { throw e }
                return 0
            }
            current = shared.full.removeFirst()
            pos = 0
            shared.lock.broadcast()
            shared.lock.unlock()
        }
        let n = min(buffer.count, current.count - pos)
        current.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + pos, byteCount: n)
        }
        pos += n
        return n
    }
}
