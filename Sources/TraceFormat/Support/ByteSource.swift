import CZstd
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Something that yields bytes: a plain file, or a zstd stream decompressed on the fly.
protocol ByteSource: AnyObject {
    /// Fills up to `buffer.count` bytes; returns 0 only at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TraceError) -> Int
    /// Bytes of the stored file consumed so far (for error messages), nil for plain files.
    var compressedOffset: UInt64? { get }
}

/// Unbuffered reads from a file descriptor.
final class FileSource: ByteSource {
    let path: String
    @exclusivity(unchecked) private var fd: Int32
    @exclusivity(unchecked) private(set) var consumed: UInt64 = 0

    /// Standard input, named `stdin` in messages; refused when it is a terminal (nothing was
    /// piped in).
    init(stdin: ()) throws(TraceError) {
        path = TraceFile.stdinName
        if isatty(0) != 0 {
            throw TraceError(file: path, .io("is a terminal: pipe a trace into it (… | tracetool replay -)"))
        }
        fd = dup(0)
        if fd < 0 { throw TraceError(file: path, .io("cannot read: \(String(cString: strerror(errno)))")) }
    }

    init(path: String) throws(TraceError) {
        self.path = path
        var st = stat()
        if stat(path, &st) != 0 {
            throw TraceError(file: path, .io("cannot open: \(String(cString: strerror(errno)))"))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw TraceError(file: path, .io("is a directory"))
        }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw TraceError(file: path, .io("cannot open: \(String(cString: strerror(errno)))")) }
    }

    deinit { if fd >= 0 { close(fd) } }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TraceError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw TraceError(file: path, .io("read failed: \(String(cString: strerror(errno)))"))
            }
            consumed += UInt64(n)
            return n
        }
    }

    var compressedOffset: UInt64? { nil }
}

/// Decompresses a zstd stream of one or more frames (skippable frames are passed over), checking
/// each frame's content checksum; a stream that ends inside a frame is reported as truncated.
final class ZstdSource: ByteSource {
    private let file: FileSource
    private let dctx: OpaquePointer
    @exclusivity(unchecked) private var input: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private var inPos = 0
    @exclusivity(unchecked) private var inEnd = 0
    @exclusivity(unchecked) private var inputStart: UInt64 = 0  // file offset of input[0]
    @exclusivity(unchecked) private var lastResult: Int = 0
    @exclusivity(unchecked) private var sawFrame = false
    @exclusivity(unchecked) private var eof = false
    /// Window log limit: 2^27 = 128 MiB, zstd's default for streaming; a hostile frame asking
    /// for more is refused instead of allocated.
    static let windowLogMax: Int32 = 27

    init(file: FileSource, prefix: [UInt8]) throws(TraceError) {
        self.file = file
        guard let d = ZSTD_createDCtx() else { throw TraceError(file: file.path, .io("out of memory")) }
        dctx = d
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZstdSource.windowLogMax)
        let size = max(ZSTD_DStreamInSize(), 1 << 17)
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        input.copyBytes(from: prefix)
        inEnd = prefix.count
    }

    deinit {
        ZSTD_freeDCtx(dctx)
        input.deallocate()
    }

    var compressedOffset: UInt64? { inputStart + UInt64(inPos) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TraceError) -> Int {
        var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        while out.pos == 0 {
            if inPos == inEnd {
                if eof { break }
                inputStart += UInt64(inEnd)
                inPos = 0
                inEnd = try file.read(into: input)
                if inEnd == 0 {
                    eof = true
                    if lastResult == 0 { break }
                    // Inside a frame: flush anything zstd still holds.
                    var inb = ZSTD_inBuffer(src: input.baseAddress, size: 0, pos: 0)
                    let r = ZSTD_decompressStream(dctx, &out, &inb)
                    if ZSTD_isError(r) != 0 { throw zstdError(r) }
                    lastResult = r
                    break
                }
            }
            var inb = ZSTD_inBuffer(src: input.baseAddress, size: inEnd, pos: inPos)
            let r = ZSTD_decompressStream(dctx, &out, &inb)
            inPos = inb.pos
            if ZSTD_isError(r) != 0 { throw zstdError(r) }
            lastResult = r
            sawFrame = true
        }
        if out.pos == 0 && eof && lastResult != 0 {
            throw TraceError(
                file: file.path, .truncated("the zstd stream ends inside a frame"),
                compressedOffset: inputStart + UInt64(inPos))
        }
        return out.pos
    }

    private func zstdError(_ r: Int) -> TraceError {
        let name = String(cString: ZSTD_getErrorName(r))
        return TraceError(file: file.path, .corruptCompressed(name), compressedOffset: inputStart + UInt64(inPos))
    }
}

/// A pull buffer over a byte source that tracks the raw stream offset.
final class RawInput {
    let path: String
    /// False for standard input: it can be read once, front to back (no seek table, no second
    /// pass).
    let seekable: Bool
    private let source: ByteSource
    @exclusivity(unchecked) private(set) var storage: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private(set) var start = 0
    @exclusivity(unchecked) private(set) var end = 0
    /// Raw-stream offset of `storage[start]`.
    @exclusivity(unchecked) private(set) var offset: UInt64 = 0
    @exclusivity(unchecked) private(set) var atEOF = false

    init(path: String, source: ByteSource, prefix: [UInt8] = [], capacity: Int = 1 << 20, seekable: Bool = true) {
        self.path = path
        self.seekable = seekable
        self.source = source
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, prefix.count), alignment: 16)
        storage.copyBytes(from: prefix)
        end = prefix.count
    }

    deinit { storage.deallocate() }

    var available: Int { end - start }
    var compressedOffset: UInt64? { source.compressedOffset }

    /// Makes `n` bytes available from `start`, growing the buffer up to what `n` needs; returns
    /// false if the stream ends first.
    func ensure(_ n: Int) throws(TraceError) -> Bool {
        if end - start >= n { return true }
        if start > 0 {
            let live = end - start
            if live > 0 {
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: live)
            }
            start = 0
            end = live
        }
        if storage.count < n {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, storage.count * 2), alignment: 16)
            bigger.baseAddress!.copyMemory(from: storage.baseAddress!, byteCount: end)
            storage.deallocate()
            storage = bigger
        }
        while end - start < n && !atEOF {
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[end...]))
            if got == 0 { atEOF = true } else { end += got }
        }
        return end - start >= n
    }

    /// Reads more if the buffer is empty; false at the end of the stream.
    func fill() throws(TraceError) -> Bool {
        if end > start { return true }
        return try ensure(1)
    }

    /// Loads at least one more byte beyond the current content (for line scanning).
    func fillMore() throws(TraceError) -> Bool {
        let had = end - start
        return try ensure(had + 1)
    }

    func consume(_ n: Int) {
        start += n
        offset += UInt64(n)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[start..<end]) }
}

enum InputOpener {
    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    static func isZstdPrefix(_ p: [UInt8]) -> Bool {
        guard p.count >= 4 else { return false }
        if Array(p[0..<4]) == zstdMagic { return true }
        // Skippable frames: 0x184D2A50 ... 0x184D2A5F little-endian.
        return p[0] & 0xF0 == 0x50 && p[1] == 0x2A && p[2] == 0x4D && p[3] == 0x18
    }

    /// Opens `path` (`-`: standard input), decompressing it if it is zstd, and returns the raw
    /// stream.
    static func open(_ path: String) throws(TraceError) -> RawInput {
        let stdin = path == TraceFile.stdinPath
        let file = stdin ? try FileSource(stdin: ()) : try FileSource(path: path)
        let path = file.path
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 4)
        defer { scratch.deallocate() }
        var got = 0
        while got < 4 {
            let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[got...]))
            if n == 0 { break }
            got += n
        }
        let prefix = Array(scratch[0..<got])
        if got == 0 { throw TraceError(file: path, .emptyFile) }
        if isZstdPrefix(prefix) {
            let z = try ZstdSource(file: file, prefix: prefix)
            // Decompression runs on its own thread, ahead of the decoder.
            return RawInput(path: path, source: PrefetchSource(source: z), seekable: !stdin)
        }
        return RawInput(path: path, source: file, prefix: prefix, seekable: !stdin)
    }
}
