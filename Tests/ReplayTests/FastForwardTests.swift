import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import TraceFormat

/// Fast-forward must change nothing: the same records replayed with and without it give the
/// same report and timeline, byte for byte, whatever the policy, pressure or power events.
@Suite("Fast-forward over steady spans changes nothing")
struct FastForwardTests {
    /// Four VMs of 256 pages busy for a minute, silent for hours, a few records after the gap
    /// (one VM powers off in the gap, another on after it), then hours of settle.
    static func records(seed: UInt64, gapHours: UInt64, frees: Bool = false) -> [TraceRecord] {
        var rng = SeededRandom(seed: seed)
        var out: [TraceRecord] = []
        for i in 0..<6_000 {
            let t = UInt64(i) * 10_000
            let vm = UInt32(rng.below(3))
            let p = UInt32(rng.below(256))
            switch rng.below(10) {
            case 0: out.append(rec(t, vm, .content, p, hash: 0x1000 + rng.below(40)))
            case 1: out.append(rec(t, vm, .zero, p))
            case 2, 3: out.append(rec(t, vm, .write, p))
            default: out.append(rec(t, vm, .read, p, count: UInt32(1 + rng.below(3)).clamped(max: 256 - p)))
            }
        }
        // With `frees`, each busy VM frees its first 128 pages at the end of the busy minute
        // (reported in the gap; VM 1 uses some again after it).
        if frees { for vm in UInt32(0)..<3 { out.append(rec(60_500_000, vm, .free, 0, count: 128)) } }
        out.append(rec(61_000_000, 2, .powerOff))
        let later: UInt64 = gapHours * 3_600_000_000
        out.append(rec(later, 3, .powerOn))
        out.append(rec(later, 3, .write, 0, count: 200))
        out.append(rec(later + 1, 0, .content, 7, hash: 0x1005))
        out.append(rec(later + 2, 1, .read, 10, count: 50))
        return out
    }

    static func run(
        _ policy: Policy, overcommit: Double?, fastForward: Bool, seed: UInt64, gapHours: UInt64
    ) throws -> (String, [TimelineRow], Int) {
        let frees = policy.freePageReporting == .on
        // With large pages, 64 KiB pages: a large page is 32 of them, so the 256-page VMs have 8.
        let header = TraceHeader(
            pageSize: policy.largePages == .on ? 65536 : 4096,
            vms: (0..<4).map { VMDecl(id: UInt32($0), name: "vm\($0)", pages: 256) },
            capture: CaptureFacts(source: "test"))
        var spec = HostSpec()
        if let overcommit { spec.memory = .overcommit(overcommit) }
        let host = try HostConfig.resolve(header: header, policy: policy, spec: spec, startsOff: [3])
        let e = try ReplayEngine(host: host, policy: policy)
        e.fastForward = fastForward
        e.checkFullEveryStep = fastForward && gapHours < 10  // every invariant after every record, tick and skip
        e.timelineInterval = Micros.seconds(600)
        for r in records(seed: seed, gapHours: gapHours, frees: frees) { try e.apply(r) }
        if policy.largePages == .on { #expect((0..<e.vms.count).contains { e.largeMap($0)!.counts.formed > 0 }) }
        try e.finish(settleUntil: Micros(2 * gapHours * 3_600_000_000))
        return (
            ReplayReportRenderer.json(ReplayReport(trace: "t", policyName: "esx", snapshot: e.snapshot())), e.timeline,
            e.fastForwards
        )
    }

    static let policies: [(String, Policy, Double?, UInt64)] = {
        func p(_ f: (inout Policy) -> Void) -> Policy {
            var x = Policy()
            x.slowGain = 1
            x.fastGain = 1
            x.overhead = 0.25
            f(&x)
            return x
        }
        return [
            ("esx", p { _ in }, nil, 3),
            ("esx under pressure", p { _ in }, 1.4, 3),
            (
                "ksm",
                p {
                    $0.sharing = .ksm; $0.shareScanVM = 300; $0.shareScanTotal = 700
                }, nil, 3
            ),
            (
                "zero-only, lru, hashBits 8",
                p {
                    $0.sharing = .zeroOnly; $0.swapVictim = .lru; $0.hashBits = 8
                }, 1.3, 3
            ),
            (
                "no sharing, fifo, hysteresis",
                p {
                    $0.sharing = .off; $0.swapVictim = .fifo; $0.hysteresis = 0.02
                }, 1.5, 3
            ),
            (
                "hashBits 6, fractional rates",
                p {
                    $0.hashBits = 6; $0.shareScanVM = 12.5; $0.shareScanTotal = 33.3
                }, 1.2, 3
            ),
            (
                "oracle estimator, default gains, 3 h",
                {
                    var x = Policy(); x.estimator = .oracle; x.overhead = 0.25; return x
                }(), 1.4, 3
            ),
            // Default gains reach their floating-point fixed point after ~2,600 periods (~22 h).
            (
                "default gains, 30 h, no sharing",
                {
                    var x = Policy(); x.sharing = .off; x.overhead = 0.25; return x
                }(), 1.4, 30
            ),
            (
                "free page reporting, 64 KiB blocks",
                p {
                    $0.freePageReporting = .on; $0.freePageBlock = 64
                }, 1.3, 3
            ),
            ("large pages", p { $0.largePages = .on }, 1.3, 3),
            (
                "compression cache, vSphere 6 states",
                p {
                    $0.compression = .on; $0.memoryStates = .vsphere6
                }, 1.4, 3
            ),
        ]
    }()

    /// Cases in which nothing is steady long enough to skip: the default gains need ~22 h to
    /// reach their fixed point, longer than the 3 h gap.
    static let neverSteady: Set<String> = ["oracle estimator, default gains, 3 h"]

    @Test(
        "Reports and timelines are identical with and without fast-forward",
        arguments: FastForwardTests.policies.indices)
    func identical(_ index: Int) throws {
        let (name, policy, overcommit, gap) = FastForwardTests.policies[index]
        let a = try FastForwardTests.run(
            policy, overcommit: overcommit, fastForward: true, seed: UInt64(index + 1), gapHours: gap)
        let b = try FastForwardTests.run(
            policy, overcommit: overcommit, fastForward: false, seed: UInt64(index + 1), gapHours: gap)
        #expect(b.2 == 0)
        #expect(a.1 == b.1, "\(name): timelines differ")
        if a.0 != b.0 {
            let x = a.0.split(separator: "\n"), y = b.0.split(separator: "\n")
            let d = zip(x, y).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record(
                "\(name): reports differ at line \(d.map { $0.offset + 1 } ?? 0): \(d.map { "\($0.element.0) vs \($0.element.1)" } ?? "length")"
            )
        }
        if !FastForwardTests.neverSteady.contains(name) { #expect(a.2 > 0, "\(name): nothing was skipped") }
        if policy.freePageReporting == .on {
            // The case is not vacuous: blocks were reported and some used again.
            let counts = a.0.split(separator: "\n").filter {
                $0.contains("\"reportedPages\"") || $0.contains("\"reusedPages\"")
            }
            #expect(counts.contains { !$0.hasSuffix(": 0") && !$0.hasSuffix(": 0,") }, "\(counts)")
        }
    }
}

extension UInt32 {
    func clamped(max m: UInt32) -> UInt32 { Swift.min(self, Swift.max(1, m)) }
}
