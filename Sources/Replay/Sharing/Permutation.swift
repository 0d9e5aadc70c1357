import TraceFormat

/// A keyed pseudo-random permutation of 0..<n with O(1) memory: an invertible mix on the next
/// power of two (odd multiplies, adds and xor-shifts, each a bijection), cycle-walked into range.
struct Permutation {
    let n: UInt64
    let bits: UInt64
    let mask: UInt64
    let m1: UInt64, m2: UInt64, a1: UInt64, a2: UInt64

    init(n: UInt64, rng: inout SeededRandomStream) {
        self.n = max(n, 1)
        var b: UInt64 = 1
        while (UInt64(1) << b) < self.n { b += 1 }
        bits = b
        mask = b >= 64 ? UInt64.max : (UInt64(1) << b) - 1
        m1 = rng.next() | 1
        m2 = rng.next() | 1
        a1 = rng.next()
        a2 = rng.next()
    }

    @inline(__always) private func mix(_ x: UInt64) -> UInt64 {
        var x = (x &* m1 &+ a1) & mask
        x ^= x >> ((bits + 1) / 2)
        x = (x &* m2 &+ a2) & mask
        x ^= x >> Swift.max(1, bits / 3)
        x = (x &* m1) & mask
        return x
    }

    /// The i-th element of the permutation.
    func callAsFunction(_ i: UInt64) -> UInt64 {
        var x = mix(i)
        while x >= n { x = mix(x) }
        return x
    }
}
