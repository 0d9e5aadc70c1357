import Foundation

/// libCacheSim's oracleGeneral trace format, for replaying a trace's page accesses under a
/// cache simulator (scripts/bench-peer.sh): packed little-endian records of a u32 time in
/// seconds, a u64 object id, a u32 size and an i64 next-access time (-1: not computed), one
/// per page an access record touches, object id = VM << 32 | PPN, size 4096.
public enum OracleGeneral {
    /// Bytes per record.
    public static let recordBytes = 24

    /// Writes every page access of `reader` to `path` (atomically); returns the records written.
    @discardableResult
    public static func write(from reader: any TraceReader, to path: String) throws(TraceError) -> UInt64 {
        let out = try AtomicOutput(path: path)
        var batch: [TraceRecord] = []
        var buf = [UInt8]()
        buf.reserveCapacity(1 << 22)
        var n: UInt64 = 0
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { buf.append(contentsOf: $0) } }
        while try reader.next(into: &batch) {
            for rec in batch where rec.kind == .read || rec.kind == .write {
                let t = UInt32(truncatingIfNeeded: rec.time.rawValue / 1_000_000)
                for k in 0..<UInt64(rec.count) {
                    le(t)
                    le(UInt64(rec.vm.rawValue) << 32 | (UInt64(rec.ppn.rawValue) + k))
                    le(UInt32(4096))
                    le(Int64(-1))
                    n += 1
                }
                if buf.count >= 1 << 22 { try out.write(buf); buf.removeAll(keepingCapacity: true) }
            }
        }
        try out.write(buf)
        try out.commit()
        return n
    }
}
