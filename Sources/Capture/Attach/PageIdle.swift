#if canImport(Glibc)
import Glibc
#endif

extension PagemapEntry {
    /// The host page frame number of a present page (bits 0–54); 0 when the reader lacks
    /// CAP_SYS_ADMIN (the kernel hides frame numbers) or the page is not present.
    public var frame: UInt64 { present ? raw & ((1 << 55) - 1) : 0 }
}

/// The host kernel's idle page tracking (`/sys/kernel/mm/page_idle/bitmap`, Linux
/// Documentation/admin-guide/mm/idle_page_tracking.rst): one bit per host page frame, in
/// 64-bit words; a set bit means the frame has not been accessed since it was marked idle.
/// Reading a word checks the frames' accessed bits in every page table that maps them (KVM's
/// too, through its MMU notifier) and clears the idle bit of each that was accessed; writing
/// a word marks idle the frames whose bits are 1 (0 bits change nothing). Reads and writes go
/// in whole 8-byte words at 8-byte offsets.
///
/// `capture --attach --track-reads` uses it: at each snapshot a page whose frame is no longer
/// idle was accessed in the interval; after the snapshot's reads (which touch every page
/// themselves) every frame is marked idle again. This writes the host's idle bits of the
/// attached VMs' frames, which is why it is asked for by name; nothing else in the project
/// opens the file, and the tests use recorded bitmaps in files of their own.
public final class PageIdleBitmap {
    public static let hostPath = "/sys/kernel/mm/page_idle/bitmap"
    public let path: String
    private let fd: Int32

    /// Opens the bitmap for reading and writing; one clear line when the host has none.
    public init(path: String = PageIdleBitmap.hostPath) throws(CaptureError) {
        self.path = path
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT {
                throw CaptureError(
                    "--track-reads needs the host kernel's idle page tracking, and \(path) does not exist here (a kernel built without CONFIG_IDLE_PAGE_TRACKING); reads cannot be recorded on this host"
                )
            }
            throw CaptureError(
                "--track-reads: cannot open \(path) for reading and writing: \(String(cString: strerror(e)))\(e == EACCES || e == EPERM ? " (it needs root)" : "")"
            )
        }
    }

    deinit { close(fd) }

    /// For each frame of `frames` (0: unknown, answered false), whether it was accessed since
    /// it was last marked idle.
    public func accessed(_ frames: [UInt64]) throws(CaptureError) -> [Bool] {
        let words = try read(Self.words(of: frames))
        return frames.map { f in f != 0 && (words[f / 64]! >> (f % 64)) & 1 == 0 }
    }

    /// Marks every frame of `frames` idle (0s are skipped).
    public func markIdle(_ frames: [UInt64]) throws(CaptureError) {
        var masks: [UInt64: UInt64] = [:]
        for f in frames where f != 0 { masks[f / 64, default: 0] |= 1 << (f % 64) }
        for w in masks.keys.sorted() {
            var m = masks[w]!.littleEndian
            let n = pwrite(fd, &m, 8, off_t(w * 8))
            guard n == 8 else {
                throw CaptureError(
                    "\(path): writing the idle bits of frames \(w * 64)…\(w * 64 + 63) failed: \(n < 0 ? String(cString: strerror(errno)) : "short write")"
                )
            }
        }
    }

    /// The sorted word indexes that hold `frames` (0s skipped).
    static func words(of frames: [UInt64]) -> [UInt64] {
        var ws = frames.filter { $0 != 0 }.map { $0 / 64 }
        ws.sort()
        var out: [UInt64] = []
        for w in ws where out.last != w { out.append(w) }
        return out
    }

    /// Reads the given words, in runs of consecutive words (at most 4,096 per read).
    private func read(_ words: [UInt64]) throws(CaptureError) -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        out.reserveCapacity(words.count)
        var buf = [UInt64](repeating: 0, count: 4096)
        var i = 0
        while i < words.count {
            var j = i + 1
            while j < words.count, words[j] == words[j - 1] + 1, j - i < buf.count { j += 1 }
            let want = (j - i) * 8
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(words[i] * 8)) }
            guard n == want else {
                throw CaptureError(
                    "\(path): reading the idle bits of frames \(words[i] * 64)…\(words[j - 1] * 64 + 63) failed: \(n < 0 ? String(cString: strerror(errno)) : "short read (frames past the end of memory)")"
                )
            }
            for k in i..<j { out[words[k]] = UInt64(littleEndian: buf[k - i]) }
            i = j
        }
        return out
    }
}
