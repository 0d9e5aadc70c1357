import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written under a temporary name beside its destination and renamed into place by
/// `commit()`, so a reader never sees a half-written output and a failed run leaves the old
/// file untouched. Writes are buffered; memory stays bounded by the buffer.
public final class AtomicOutput {
    public let path: String
    private let tempPath: String
    @exclusivity(unchecked) private var fd: Int32
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    @exclusivity(unchecked) private var committed = false
    /// Writing to standard output (`init(stdout:)`): nothing to rename, and nothing to take back.
    private let toStdout: Bool
    /// Bytes written so far (buffered or not).
    @exclusivity(unchecked) public private(set) var bytesWritten: UInt64 = 0

    /// Standard output, for a stream another process reads (`gen … - | tracetool replay -`):
    /// written as it goes, so a failure leaves what was written, cut short (a reader reports the
    /// stream as truncated). Refused when stdout is a terminal.
    public init(stdout: ()) throws(TraceError) {
        path = "stdout"
        tempPath = ""
        toStdout = true
        if isatty(1) != 0 {
            throw TraceError(
                file: path, .io("is a terminal: a binary trace goes into a pipe (… - | tracetool replay -) or a file"))
        }
        fd = dup(1)
        if fd < 0 { throw TraceError(file: path, .io("cannot write: \(String(cString: strerror(errno)))")) }
        buffer.reserveCapacity(bufferLimit)
    }

    public init(path: String) throws(TraceError) {
        self.path = path
        toStdout = false
        // "-" means stdout where a command can stream; here it would be a file named "-".
        guard path != "-" else {
            throw TraceError(file: path, .io("this output cannot go to stdout: give a file name"))
        }
        try OutputPath.check(path)
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let base = url.lastPathComponent
        OutputPath.removeStaleTemporaries(in: dir.isEmpty ? "." : dir)
        var rng = SystemRandomNumberGenerator()
        let tag = OutputPath.hostTag + String(rng.next() as UInt64, radix: 36)
        tempPath = (dir.isEmpty ? "." : dir) + "/." + base + ".tmp-\(getpid())-" + tag
        fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            // Named by its folder: the temporary file is ours, not the user's.
            throw TraceError(
                file: path,
                .io("cannot write in the folder \(dir.isEmpty ? "." : dir): \(String(cString: strerror(errno)))"))
        }
        buffer.reserveCapacity(bufferLimit)
    }

    deinit {
        if !committed { abandon() }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(TraceError) {
        bytesWritten += UInt64(bytes.count)
        if buffer.count + bytes.count > bufferLimit {
            try flush()
            if bytes.count >= bufferLimit {
                try writeAll(bytes)
                return
            }
        }
        buffer.append(contentsOf: bytes)
    }

    public func write(_ bytes: [UInt8]) throws(TraceError) {
        var failure: TraceError?
        bytes.withUnsafeBytes { p in
            do throws(TraceError) { try write(p) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func write(_ s: String) throws(TraceError) {
        try write(Array(s.utf8))
    }

    public func flush() throws(TraceError) {
        if buffer.isEmpty { return }
        var failure: TraceError?
        buffer.withUnsafeBytes { p in
            do throws(TraceError) { try writeAll(p) } catch { failure = error }
        }
        if let failure { throw failure }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ p: UnsafeRawBufferPointer) throws(TraceError) {
        var off = 0
        while off < p.count {
            let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw TraceError(file: path, .io("write failed: \(String(cString: strerror(errno)))"))
            }
            off += n
        }
    }

    /// Flushes, syncs and renames the temporary file onto `path`.
    public func commit() throws(TraceError) {
        try flush()
        if toStdout {
            close(fd)
            fd = -1
            committed = true
            return
        }
        if fsync(fd) != 0 && errno != EINVAL {
            throw TraceError(file: path, .io("fsync failed: \(String(cString: strerror(errno)))"))
        }
        close(fd)
        fd = -1
        // The target may have changed kind while we worked: never rename over a non-regular file.
        do { try OutputPath.check(path) } catch {
            unlink(tempPath)
            throw error
        }
        if rename(tempPath, path) != 0 {
            let msg = String(cString: strerror(errno))
            unlink(tempPath)
            throw TraceError(file: path, .io("cannot rename into place: \(msg)"))
        }
        committed = true
    }

    /// Deletes the temporary file; the destination is left as it was.
    public func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        if toStdout { committed = true; return }
        if !committed { unlink(tempPath); committed = true }
    }

    /// Writes `data` to `path` atomically in one call.
    public static func write(_ data: [UInt8], to path: String) throws(TraceError) {
        let out = try AtomicOutput(path: path)
        try out.write(data)
        try out.commit()
    }

    public static func write(_ s: String, to path: String) throws(TraceError) {
        try write(Array(s.utf8), to: path)
    }
}
