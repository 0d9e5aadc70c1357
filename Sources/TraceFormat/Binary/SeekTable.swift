import CZstd
import Foundation

/// Reads the seek table (zstd seekable format) at the end of a binary trace to find the footer
/// frame without decoding the body.
enum SeekTable {
    /// The footer, or nil when the file has no usable seek table (the caller then decodes all).
    static func readFooter(path: String) throws(TraceError) -> TraceFooter? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        guard let size = try? fh.seekToEnd(), size >= 17 else { return nil }
        func read(at offset: UInt64, _ n: Int) -> [UInt8]? {
            guard (try? fh.seek(toOffset: offset)) != nil, let d = try? fh.read(upToCount: n), d.count == n else {
                return nil
            }
            return Array(d)
        }
        guard let tail = read(at: size - 9, 9) else { return nil }
        let frames = tail.withUnsafeBytes { loadLE32($0.baseAddress!) }
        let descriptor = tail[4]
        let magic = tail.withUnsafeBytes { loadLE32($0.baseAddress! + 5) }
        guard magic == BinaryLayout.seekableMagic, descriptor & 0x7C == 0, frames >= 1, frames < 1 << 24 else {
            return nil
        }
        let entrySize: UInt64 = descriptor & 0x80 != 0 ? 12 : 8
        let tableBytes = UInt64(frames) * entrySize + 9
        guard size >= tableBytes + 8 else { return nil }
        let tableStart = size - tableBytes - 8
        guard let table = read(at: tableStart, Int(tableBytes + 8)) else { return nil }
        let frameMagic = table.withUnsafeBytes { loadLE32($0.baseAddress!) }
        let frameSize = table.withUnsafeBytes { loadLE32($0.baseAddress! + 4) }
        guard frameMagic == BinaryLayout.seekTableFrameMagic, UInt64(frameSize) == tableBytes else { return nil }
        var offset: UInt64 = 0
        var last: (c: UInt64, d: UInt64) = (0, 0)
        for i in 0..<Int(frames) {
            let e = 8 + i * Int(entrySize)
            let c = UInt64(table.withUnsafeBytes { loadLE32($0.baseAddress! + e) })
            let d = UInt64(table.withUnsafeBytes { loadLE32($0.baseAddress! + e + 4) })
            if i + 1 < Int(frames) { offset += c }
            last = (c, d)
        }
        guard offset + last.c == tableStart, last.d >= 8, last.d <= UInt64(TraceLimits.maxFooterBytes + 8) else {
            return nil
        }
        guard let frame = read(at: offset, Int(last.c)) else { return nil }
        var raw = [UInt8](repeating: 0, count: Int(last.d))
        let got = raw.withUnsafeMutableBytes { r in
            frame.withUnsafeBytes { f in ZSTD_decompress(r.baseAddress, r.count, f.baseAddress, f.count) }
        }
        guard ZSTD_isError(got) == 0, got == Int(last.d) else { return nil }
        let tag = raw.withUnsafeBytes { loadLE32($0.baseAddress!) }
        let len = raw.withUnsafeBytes { Int(loadLE32($0.baseAddress! + 4)) }
        guard tag == BinaryLayout.footerTag, len + 8 == raw.count else { return nil }
        return try? JSONDecoder().decode(TraceFooter.self, from: Data(raw[8...]))
    }
}
