import Foundation
import TraceFormat

/// A progress line on stderr while replaying, only when stderr is a terminal. The decoding
/// thread reports how far it read and a worker reports long simulated spans, so every update
/// takes a lock.
final class Progress: @unchecked Sendable {
    let path: String
    let enabled: Bool
    let size: UInt64
    let start = DispatchTime.now().uptimeNanoseconds
    private let lock = NSLock()
    private var last: UInt64 = 0
    private var shown = false

    init(path: String, enabled: Bool) {
        self.path = path
        self.enabled = enabled && isatty(2) != 0
        size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
    }

    /// Writes `line()` unless the last line is less than 0.2 s old.
    private func show(_ line: () -> String) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let t = DispatchTime.now().uptimeNanoseconds
        guard t - last > 200_000_000 else { return }
        last = t
        FileHandle.standardError.write(Data(line().utf8))
        shown = true
    }

    func update(_ r: ReadPosition) {
        show {
            let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let frac = size > 0 ? min(1, Double(r.fileOffset) / Double(size)) : 0
            let rate = Double(r.recordsRead) / max(secs, 1e-9)
            let eta = frac > 0 ? secs * (1 - frac) / frac : 0
            // A pipe has no size: records and rate only.
            if size == 0 {
                return String(
                    format: "\r%@: %llu records, %.1f M records/s ", TraceFile.displayName(path), r.recordsRead,
                    rate / 1e6)
            }
            return String(
                format: "\r%@: %llu records, %.0f%%, %.1f M records/s, ETA %.0f s ",
                TraceFile.displayName(path),
                r.recordsRead, frac * 100, rate / 1e6, eta)
        }
    }

    /// A span of simulated time the model steps through second by second.
    func span(_ now: Micros, _ end: Micros) {
        show {
            String(
                format:
                    "\r%@: simulating %.0f s … %.0f s (%.0f%% of this span; --until or a shorter --settle bounds it) ",
                TraceFile.displayName(path), now.seconds, end.seconds,
                100 * now.seconds / max(end.seconds, 1e-9))
        }
    }

    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
