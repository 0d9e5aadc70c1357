/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64).
///
/// Everything random in tracetool draws from one of these, so a seed fixes the output. Streams
/// for different purposes are derived with `derive(_:_:)`, so adding a VM or a purpose changes
/// no other stream.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func next() -> UInt64 {
            defer { sm &+= 0x9E37_79B9_7F4A_7C15 }
            return SeededRandom.splitMix(sm)
        }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
    }

    /// One step of SplitMix64 from state `x`: a bijection of 64-bit values that spreads them
    /// evenly (the seeding above; content sketches and `gen fleet` mix digests with it).
    @inline(__always)
    public static func splitMix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An independent stream for `(a, b)` under `seed`: the same triple always gives the same stream.
    public static func derive(seed: UInt64, _ a: UInt64, _ b: UInt64 = 0) -> SeededRandom {
        var h = SeededRandom(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        let x = h.next() ^ (a &* 0xD6E8_FEB8_6659_FD93)
        var h2 = SeededRandom(seed: x)
        let y = h2.next() ^ (b &* 0xA076_1D64_78BD_642F)
        return SeededRandom(seed: y)
    }

    @inlinable
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SeededRandom.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = SeededRandom.rotl(s3, 45)
        return result
    }

    /// A uniform integer in `0..<n` (Lemire's method, no modulo bias). `n` must be positive.
    public mutating func below(_ n: UInt64) -> UInt64 {
        precondition(n > 0)
        var m = next().multipliedFullWidth(by: n)
        if m.low < n {
            let t = (0 &- n) % n
            while m.low < t { m = next().multipliedFullWidth(by: n) }
        }
        return m.high
    }

    /// A uniform double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
