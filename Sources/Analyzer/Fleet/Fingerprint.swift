import Foundation
import TraceFormat

/// What a VM holds at one moment, summarised so that the sharing of any group of VMs can be
/// estimated without their traces (docs/FLEET.md, "Fingerprints").
///
/// A page the VM holds is in one of three classes, read from the trace up to the moment:
/// - *content*: its last content record gave a non-zero digest: it can share with any page of
///   the same digest, in this VM or another on the same host;
/// - *zero*: all zero: every zero page of a host shares one frame;
/// - *unknown*: written with no content record since: private.
///
/// As in the model (docs/MODEL.md), a first read of a page is a demand-zero fill (known zero), a
/// write makes content unknown, a content or zero record makes it known, a power-off drops all.
///
/// The distinct digests of the content pages are kept as a **bottom-k sketch** (KMV): the k
/// smallest values of `mix(digest)`, `mix` a bijection that spreads digests evenly over 64 bits
/// (captured digests already are; generated ones are small integers). While a VM has at most k
/// distinct digests the sketch *is* its exact set, so small VMs are exact; beyond, the union of
/// a group's sketches cut to k is the sketch of the group's union, whose size is estimated as
/// (k − 1) / (k-th value / 2^64), with a relative standard error of about 1/√(k − 2) (1.6% at
/// the default k = 4096, 32 KiB per VM). Unlike a Bloom filter (Memory Buddies), a sketch of a
/// union is made from the members' sketches alone, so a host's sketch grows by merging as VMs
/// are placed on it.
public struct VMFingerprint: Equatable, Sendable {
    /// The VM's name in its trace, and the trace (as given) and id it came from.
    public var name: String
    public var trace: String
    public var vm: UInt32
    /// The moment summarised (µs from the trace's start): every record at or before it counts.
    public var atMicros: UInt64
    public var pageSize: UInt32
    /// The VM's configured pages (its max).
    public var pages: UInt64
    public var contentPages: UInt64
    public var zeroPages: UInt64
    public var unknownPages: UInt64
    /// Exact number of distinct non-zero digests among the content pages.
    public var distinct: UInt64
    /// The k smallest mixed digests, ascending (all of them when `distinct` ≤ k).
    public var sketch: [UInt64]

    public var heldPages: UInt64 { contentPages + zeroPages + unknownPages }
    public var isExact: Bool { UInt64(sketch.count) == distinct }
}

/// The bottom-k sketch's arithmetic.
public enum ContentSketch {
    public static let defaultK = 4096
    public static let kRange = 16...(1 << 20)

    /// A bijection of 64-bit values (SplitMix64's finaliser): spreads digests evenly.
    @inline(__always)
    public static func mix(_ h: UInt64) -> UInt64 { SeededRandom.splitMix(h) }

    /// The k smallest values of the union of sorted, duplicate-free lists.
    public static func union(_ a: [UInt64], _ b: [UInt64], k: Int) -> [UInt64] { merge(a, b, k: k).values }

    /// The k smallest values of the union, and whether the union had more (values were cut).
    public static func merge(_ a: [UInt64], _ b: [UInt64], k: Int) -> (values: [UInt64], cut: Bool) {
        var out: [UInt64] = []
        out.reserveCapacity(min(k, a.count + b.count))
        var i = 0, j = 0
        while out.count < k && (i < a.count || j < b.count) {
            if j == b.count || (i < a.count && a[i] < b[j]) {
                out.append(a[i])
                i += 1
            } else if i == a.count || b[j] < a[i] {
                out.append(b[j])
                j += 1
            } else {
                out.append(a[i])
                i += 1
                j += 1
            }
        }
        // Cut when values remain that are not duplicates of the last one kept.
        let cut = out.count == k && (a[i...].contains { $0 > out[k - 1] } || b[j...].contains { $0 > out[k - 1] })
        return (out, cut)
    }

    /// The number of distinct values of a set whose bottom-k sketch is `s`: exact when the sketch
    /// holds fewer than k values (it is then the whole set), else (k − 1) / (s[k−1] / 2^64).
    public static func estimate(_ s: [UInt64], k: Int, exact: Bool) -> Double {
        if exact || s.count < k { return Double(s.count) }
        let u = (Double(s[k - 1]) + 1) / 18_446_744_073_709_551_616.0
        return Double(k - 1) / u
    }
}

/// A group of VMs on one host, as the fingerprints estimate it.
public struct GroupEstimate: Equatable, Sendable {
    /// Pages the VMs hold (sum over the VMs).
    public var heldPages: UInt64
    /// Machine pages they need with every duplicate shared: unknown pages, one per distinct
    /// content, one zero frame if any page is zero.
    public var footprintPages: Double
    public var savedPages: Double { Double(heldPages) - footprintPages }
    /// True when every member's sketch is its exact set (the estimate is then exact).
    public var exact: Bool
}

/// A growing group: the sums and the union sketch, so adding one VM is one merge.
public struct GroupSketch: Sendable {
    public let k: Int
    public private(set) var sketch: [UInt64] = []
    public private(set) var held: UInt64 = 0
    public private(set) var unknown: UInt64 = 0
    public private(set) var zero: UInt64 = 0
    public private(set) var maxDistinct: UInt64 = 0
    public private(set) var sumDistinct: UInt64 = 0
    public private(set) var exact = true
    public private(set) var members: [Int] = []

    public init(k: Int) { self.k = k }

    public mutating func add(_ f: VMFingerprint, index: Int) {
        let (s, cut) = ContentSketch.merge(sketch, f.sketch, k: k)
        sketch = s
        held += f.heldPages
        unknown += f.unknownPages
        zero += f.zeroPages
        maxDistinct = max(maxDistinct, f.distinct)
        sumDistinct += f.distinct
        exact = exact && f.isExact && !cut
        members.append(index)
    }

    /// Distinct contents of the group: exact, or the sketch's estimate kept between what the
    /// largest member has and what all have together.
    public var distinct: Double { Self.distinct(sketch, k: k, exact: exact, atLeast: maxDistinct, atMost: sumDistinct) }

    static func distinct(_ s: [UInt64], k: Int, exact: Bool, atLeast: UInt64, atMost: UInt64) -> Double {
        min(max(ContentSketch.estimate(s, k: k, exact: exact), Double(atLeast)), Double(atMost))
    }

    public var estimate: GroupEstimate {
        GroupEstimate(
            heldPages: held, footprintPages: Double(unknown) + distinct + (zero > 0 ? 1 : 0), exact: exact)
    }

    /// The footprint this group would have with `f` added (one merge; the group is unchanged).
    public func footprint(adding f: VMFingerprint) -> Double {
        let (s, cut) = ContentSketch.merge(sketch, f.sketch, k: k)
        let d = Self.distinct(
            s, k: k, exact: exact && f.isExact && !cut,
            atLeast: max(maxDistinct, f.distinct), atMost: sumDistinct + f.distinct)
        return Double(unknown + f.unknownPages) + d + (zero + f.zeroPages > 0 ? 1 : 0)
    }
}

public enum Fingerprints {
    /// The estimate for the VMs `members` of `all`.
    public static func estimate(_ all: [VMFingerprint], members: [Int], k: Int) -> GroupEstimate {
        var g = GroupSketch(k: k)
        for i in members { g.add(all[i], index: i) }
        return g.estimate
    }

    /// Fingerprints of every VM of the trace at `path`, at `at` (nil: its end).
    public static func make(
        path: String, at: Micros? = nil, k: Int = ContentSketch.defaultK
    ) throws(TraceError) -> [VMFingerprint] {
        let reader = try TraceFile.open(path)
        let h = reader.header
        let total = h.vms.reduce(UInt64(0)) { $0 + $1.pages }
        // Per page: its digest and its class (0 not held, 1 unknown, 2 content or zero).
        if let problem = MemoryBudget.problem(
            Double(total) * 9, for: "fingerprinting \(h.vms.count) VMs of \(total) pages in all (9 bytes a page)")
        {
            throw TraceError(file: path, .limitExceeded(problem))
        }
        let index = VMIndexMap(h.vms)
        var hashes = h.vms.map { [UInt64](repeating: 0, count: Int($0.pages)) }
        var state = h.vms.map { [UInt8](repeating: 0, count: Int($0.pages)) }
        var batch: [TraceRecord] = []
        var last: UInt64 = 0
        let limit = at?.rawValue ?? .max
        reading: while try reader.next(into: &batch) {
            for r in batch {
                if r.time.rawValue > limit { break reading }
                last = r.time.rawValue
                guard let v = index[r.vm.rawValue] else { continue }  // the reader checks VMs
                let first = Int(r.ppn.rawValue), end = first + Int(r.count)
                switch r.kind {
                case .read:
                    // A first touch is a demand-zero fill: the page is known zero (as in the model).
                    for p in first..<end where state[v][p] == 0 {
                        state[v][p] = 2
                        hashes[v][p] = 0
                    }
                case .write:
                    for p in first..<end { state[v][p] = 1 }
                case .content:
                    hashes[v][first] = r.hash.rawValue
                    state[v][first] = 2
                case .zero:
                    for p in first..<end {
                        hashes[v][p] = 0
                        state[v][p] = 2
                    }
                case .powerOff:
                    for p in 0..<state[v].count { state[v][p] = 0 }
                case .free, .powerOn:
                    break
                }
            }
        }
        let moment = at?.rawValue ?? last
        var out: [VMFingerprint] = []
        for (v, decl) in h.vms.enumerated() {
            var f = VMFingerprint(
                name: decl.name, trace: path, vm: decl.id, atMicros: moment, pageSize: decl.pageSize ?? h.pageSize,
                pages: decl.pages, contentPages: 0, zeroPages: 0, unknownPages: 0, distinct: 0, sketch: [])
            var mixed: [UInt64] = []
            for p in 0..<state[v].count {
                switch state[v][p] {
                case 1: f.unknownPages += 1
                case 2:
                    if hashes[v][p] == 0 {
                        f.zeroPages += 1
                    } else {
                        f.contentPages += 1
                        mixed.append(ContentSketch.mix(hashes[v][p]))
                    }
                default: break
                }
            }
            hashes[v] = []
            state[v] = []
            mixed.sort()
            var distinct: [UInt64] = []
            distinct.reserveCapacity(min(mixed.count, k))
            var n: UInt64 = 0
            var previous: UInt64? = nil
            for x in mixed where x != previous {
                n += 1
                previous = x
                if distinct.count < k { distinct.append(x) }
            }
            f.distinct = n
            f.sketch = distinct
            out.append(f)
        }
        return out
    }
}
