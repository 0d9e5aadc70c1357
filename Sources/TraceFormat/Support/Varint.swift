/// LEB128 variable-length integers and zigzag signed encoding, as docs/FORMAT.md specifies.
public enum Varint {
    /// Appends `v` as unsigned LEB128: seven bits a byte, least significant first, high bit set
    /// on every byte but the last.
    @inlinable
    public static func append(_ v: UInt64, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { b in
            let n = store(v, at: b.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[..<n]))
        }
    }

    /// Writes `v` as unsigned LEB128 at `p` (room for 10 bytes); the bytes written.
    @inlinable @inline(__always)
    public static func store(_ v: UInt64, at p: UnsafeMutablePointer<UInt8>) -> Int {
        var v = v
        var n = 0
        while v >= 0x80 {
            p[n] = UInt8(truncatingIfNeeded: v) | 0x80
            n += 1
            v >>= 7
        }
        p[n] = UInt8(v)
        return n + 1
    }

    /// Zigzag maps signed to unsigned so that small magnitudes stay small: 0,-1,1,-2 → 0,1,2,3.
    @inlinable
    public static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    @inlinable
    public static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    /// The number of bytes `append` writes for `v`.
    @inlinable
    public static func size(_ v: UInt64) -> Int {
        var n = 1
        var v = v >> 7
        while v != 0 { n += 1; v >>= 7 }
        return n
    }
}
