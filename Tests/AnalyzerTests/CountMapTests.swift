import Testing
@testable import Analyzer

@Suite("stats' count map")
struct CountMapTests {
    @Test("Random adds and removes agree with a Dictionary of counts, through growth and backward-shift deletion")
    func againstDictionary() {
        var map = CountMap()
        var reference: [UInt64: Int] = [:]
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        for step in 0..<200_000 {
            // Few distinct keys (collisions in the probe runs), zero among them.
            let k = next() % 5_000 &* 0x1_0000_0001
            if let c = reference[k], next() % 3 == 0 {
                map.remove(k)
                reference[k] = c == 1 ? nil : c - 1
            } else {
                map.add(k)
                reference[k, default: 0] += 1
            }
            if step % 10_000 == 0 {
                #expect(map.count == reference.count)
                for probe in 0..<5_000 as Range<UInt64> {
                    let key = probe &* 0x1_0000_0001
                    #expect(map.count(of: key) == UInt64(reference[key] ?? 0))
                }
            }
        }
        #expect(map.count == reference.count)
        // Draining everything leaves it empty.
        for (k, c) in reference.sorted(by: { $0.key < $1.key }) { for _ in 0..<c { map.remove(k) } }
        #expect(map.count == 0)
    }
}
