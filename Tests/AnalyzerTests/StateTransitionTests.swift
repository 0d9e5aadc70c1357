import Analyzer
import Foundation
import Testing
@testable import Replay
import TraceFormat

/// No oscillation between the free-memory states (docs/MODEL.md "Reclamation"): every bundled
/// trace replayed at `--overcommit 2` and then one more simulated hour with no records. While
/// records arrive the state follows the guests: at overcommit 2 the VMs of `sample` and
/// `qemu4vm` all sit at their balloon cap and read back host-swapped pages, which uses free
/// memory until the host enters soft and pages again — a cycle of about 7 s that lasts as long
/// as the accesses do. So the bound while records arrive is one transition per 3 s of trace;
/// once they stop, the host settles: at most three transitions (low → hard → soft → high) in
/// the hour after the last record.
@Suite("State transitions stay bounded on the bundled traces")
struct StateTransitionTests {
    static let traces = [
        "sample", "qemu4vm", "capture-4vm", "capture-4vm-sized", "capture-identical5",
        "capture-identical5-sized", "server-mix", "server-identical5",
    ]

    @Test(
        "At --overcommit 2: at most one transition per 3 s of trace, at most three in the hour after it",
        arguments: traces)
    func bounded(_ name: String) throws {
        let path = GoldenTests.root + "/traces/\(name).mtr.zst"
        var spec = HostSpec()
        spec.memory = .overcommit(2)
        func transitions(settle: Micros) throws -> (UInt64, ReplayReport) {
            var runner = ReplayRunner(path: path, runs: [PolicyRun(name: "esx", policy: Policy(), spec: spec)])
            runner.settle = settle
            let r = try runner.run()[0].report
            return (r.states.transitions.values.reduce(0, +), r)
        }
        let (atEnd, r) = try transitions(settle: .zero)
        let traced = r.host.tracedSeconds
        let (total, later) = try transitions(settle: Micros.seconds(3600))
        let after = total - atEnd
        #expect(
            Double(atEnd) <= max(1, traced / 3), "\(name): \(atEnd) transitions in \(traced) s: \(r.states.transitions)"
        )
        #expect(
            after <= 3, "\(name): \(after) transitions in the hour after the last record: \(later.states.transitions)")
    }
}
