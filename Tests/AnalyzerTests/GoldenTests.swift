import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import TraceFormat

/// Golden-trace tests: each bundled trace replayed under a few policies must give exactly the
/// JSON report stored under Tests/AnalyzerTests/Golden/. After an intended change of the model,
/// run `RECORD_GOLDEN=1 swift test --filter GoldenTests` to rewrite them (the run fails on
/// purpose and says so), review the diff, and commit it.
@Suite("Golden traces")
struct GoldenTests {
    struct Case: CustomStringConvertible, Sendable {
        var trace: String
        var preset: String
        var overcommit: Double?
        var settle: Micros
        var sets: [String]
        /// Replay only the first `firstVMs` VMs of the trace (as `convert --vms 0,1,…` would).
        var firstVMs: Int? = nil
        var description: String { golden }
        var golden: String {
            let oc = overcommit.map { "-oc\($0)" } ?? ""
            let extra = sets.isEmpty ? "" : "-" + sets.joined(separator: "-").replacingOccurrences(of: "=", with: "")
            let vms = firstVMs.map { "-first\($0)" } ?? ""
            return "\(trace.replacingOccurrences(of: ".mtr.zst", with: ""))\(vms)-\(preset)\(oc)\(extra).json"
        }
    }

    static let cases: [Case] =
        [
            Case(trace: "sample.mtr.zst", preset: "esx", overcommit: nil, settle: Micros.seconds(60), sets: []),
            Case(trace: "sample.mtr.zst", preset: "esx", overcommit: 1.5, settle: Micros.seconds(60), sets: []),
            Case(trace: "sample.mtr.zst", preset: "swap-only", overcommit: 1.5, settle: Micros.seconds(60), sets: []),
            Case(trace: "sample.mtr.zst", preset: "no-tax", overcommit: 1.5, settle: .zero, sets: []),
            Case(
                trace: "qemu4vm.mtr.zst", preset: "esx", overcommit: nil, settle: Micros.seconds(1800),
                sets: ["shareScanVM=200", "shareScanTotal=800"]),
            Case(trace: "qemu4vm.mtr.zst", preset: "zero-only", overcommit: 2, settle: Micros.seconds(600), sets: []),
            // Captured with `tracetool capture` (traces/README.md): four different VMs ...
            Case(trace: "capture-4vm.mtr.zst", preset: "esx", overcommit: nil, settle: Micros.seconds(1800), sets: []),
            Case(trace: "capture-4vm.mtr.zst", preset: "esx", overcommit: 2, settle: .zero, sets: []),
            Case(trace: "capture-4vm.mtr.zst", preset: "ksm", overcommit: nil, settle: Micros.seconds(300), sets: []),
            // Debian server guests running real programs (traces/README.md: Fig. 5's setting) ...
            Case(trace: "server-mix.mtr.zst", preset: "esx", overcommit: nil, settle: Micros.seconds(7200), sets: []),
            Case(trace: "server-mix.mtr.zst", preset: "ksm", overcommit: nil, settle: Micros.seconds(300), sets: []),
            Case(trace: "server-mix.mtr.zst", preset: "esx", overcommit: 4, settle: .zero, sets: []),
            // The long server capture: guests aged 30 minutes of their own clock, 10 traced.
            Case(
                trace: "server-mix-long.mtr.zst", preset: "esx", overcommit: nil, settle: Micros.seconds(7200), sets: []
            ),
            // The same workloads captured with compressed sizes (format version 2), under the
            // mechanisms after the paper: salting, large pages, vSphere 6 states, compression.
            Case(trace: "capture-4vm-sized.mtr.zst", preset: "esx-modern", overcommit: 2, settle: .zero, sets: []),
            Case(
                trace: "capture-identical5-sized.mtr.zst", preset: "esx-modern", overcommit: 2, settle: .zero, sets: []),
        ]
        + (1...5).flatMap { n in
            // ... and five identical ones, replayed 1, 2, ..., 5 at a time as in the paper's Fig. 4.
            // (768 MiB VMs scanned at 40-50 pages/s take over an hour a pass: 2 h of settle.)
            [
                ("capture-identical5.mtr.zst", 1800.0), ("server-identical5.mtr.zst", 7200.0),
                ("server-identical5-long.mtr.zst", 7200.0),
            ].map {
                Case(trace: $0.0, preset: "esx", overcommit: nil, settle: Micros.seconds($0.1), sets: [], firstVMs: n)
            }
        }

    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    @Test("Replays of the bundled traces match their golden reports", arguments: cases)
    func golden(_ c: Case) throws {
        var path = GoldenTests.root + "/traces/" + c.trace
        let subset = NSTemporaryDirectory() + "tracetool-golden-\(UUID().uuidString).mtr.zst"
        defer { try? FileManager.default.removeItem(atPath: subset) }
        if let n = c.firstVMs {
            try TraceSinks.copy(
                from: try TraceFile.open(path), to: subset, level: 1, onlyVMs: (0..<UInt32(n)).map { $0 })
            path = subset
        }
        var policy = Presets.named(c.preset)!.policy
        for s in c.sets { try PolicyKnobs.apply(assignments: s, to: &policy) }
        var spec = HostSpec()
        if let oc = c.overcommit { spec.memory = .overcommit(oc) }
        var runner = ReplayRunner(
            path: path,
            runs: [
                PolicyRun(
                    name: c.sets.isEmpty ? c.preset : c.preset + " + " + c.sets.joined(separator: ","),
                    policy: policy, spec: spec)
            ])
        runner.settle = c.settle
        runner.traceName = c.trace
        let json = ReplayReportRenderer.json(try runner.run()[0].report)
        let file = GoldenTests.root + "/Tests/AnalyzerTests/Golden/" + c.golden
        if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
            try AtomicOutput.write(json, to: file)
            Issue.record("RECORD_GOLDEN=1: rewrote \(c.golden); review the diff and run again without RECORD_GOLDEN")
            return
        }
        guard let expected = try? String(contentsOfFile: file, encoding: .utf8) else {
            Issue.record("no golden report \(c.golden): run RECORD_GOLDEN=1 swift test --filter GoldenTests")
            return
        }
        if json != expected {
            let a = json.split(separator: "\n"), b = expected.split(separator: "\n")
            let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record(
                "\(c.golden) differs at line \((first?.offset ?? min(a.count, b.count)) + 1): got \(first.map { String($0.element.0) } ?? "(length)"), expected \(first.map { String($0.element.1) } ?? "(length)"). If the change is intended: RECORD_GOLDEN=1 swift test --filter GoldenTests"
            )
        }
    }

    /// traces/README.md's Fig. 4 tables for capture-identical5 and server-identical5 are
    /// computed from the golden reports (which the test above pins to the model): they cannot
    /// drift from them.
    @Test(
        "traces/README.md's identical-VM tables are the golden reports' numbers",
        arguments: ["capture-identical5", "server-identical5", "server-identical5-long"])
    func identicalTable(_ trace: String) throws {
        let readme = try String(contentsOfFile: GoldenTests.root + "/traces/README.md", encoding: .utf8)
        let fig4 = [12.6, 36.4, 45.9, 51.0, 54.3]
        for n in 1...5 {
            let file = GoldenTests.root + "/Tests/AnalyzerTests/Golden/\(trace)-first\(n)-esx.json"
            let r = try JSONDecoder().decode(ReplayReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            let mib = Double(r.host.pageSizeBytes) / 1_048_576
            let configured = Double(r.vms.reduce(0) { $0 + $1.maxPages }) * mib
            let touched = Double(r.vms.reduce(0) { $0 + $1.residentPages }) * mib
            let shared = Double(r.sharing.sharedPages) * mib, saved = r.sharing.savedPages * mib
            let zero = Double(r.sharing.zeroSharedPages) * mib
            let row = String(
                format: "| %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |", n, configured, touched,
                shared, saved,
                zero, 100 * shared / configured, 100 * saved / configured, fig4[n - 1])
            #expect(readme.contains(row), "traces/README.md lacks the row \(row) (\(trace))")
        }
    }

    /// traces/README.md's Fig. 5-style table for server-mix: per VM and in all, from the golden
    /// report of `replay --settle 30m`.
    @Test(
        "traces/README.md's server-mix tables are the golden reports' numbers",
        arguments: ["server-mix", "server-mix-long"])
    func serverMixTable(_ trace: String) throws {
        let readme = try String(contentsOfFile: GoldenTests.root + "/traces/README.md", encoding: .utf8)
        let file = GoldenTests.root + "/Tests/AnalyzerTests/Golden/\(trace)-esx.json"
        let r = try JSONDecoder().decode(ReplayReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        let mib = Double(r.host.pageSizeBytes) / 1_048_576
        func row(
            _ name: String, configured: UInt64, touched: UInt64, shared: UInt64, saved: Double, zero: UInt64
        ) -> String {
            let c = Double(configured) * mib
            return String(
                format: "| %@ | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |", name, c,
                Double(touched) * mib,
                Double(shared) * mib, saved * mib, Double(zero) * mib, 100 * Double(shared) * mib / c,
                100 * saved * mib / c,
                touched == 0 ? 0 : 100 * Double(zero) / Double(touched))
        }
        for v in r.vms {
            let line = row(
                v.name, configured: v.maxPages, touched: v.residentPages, shared: v.sharing.sharedPages,
                saved: v.sharing.savedPages, zero: v.sharing.zeroSharedPages)
            #expect(readme.contains(line), "traces/README.md lacks the row \(line)")
        }
        let all = row(
            "all", configured: r.vms.reduce(0) { $0 + $1.maxPages }, touched: r.vms.reduce(0) { $0 + $1.residentPages },
            shared: r.sharing.sharedPages, saved: r.sharing.savedPages, zero: r.sharing.zeroSharedPages)
        #expect(readme.contains(all), "traces/README.md lacks the row \(all) (\(trace))")
    }
}
