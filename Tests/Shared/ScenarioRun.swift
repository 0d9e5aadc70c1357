import Foundation
@testable import Analyzer
@testable import Replay
import Scenarios
import TraceFormat

// Shared by ReplayTests and AnalyzerTests (each folder links this file).

func runScenario(
    _ scenario: any TraceScenario.Type, _ o: GenOptions, policy: Policy, spec: HostSpec = HostSpec(),
    settle: Micros = .zero, timeline: Micros? = nil
) throws -> (ReplayEngine, ReplayReport) {
    let dir = NSTemporaryDirectory() + "tt-sc-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/t.mtr.zst"
    try ScenarioRegistry.write(scenario, options: o, to: path)
    var run = PolicyRun(name: "esx", policy: policy, spec: spec)
    run.keepEngine = true
    var runner = ReplayRunner(path: path, runs: [run])
    runner.settle = settle
    runner.timelineInterval = timeline
    runner.traceName = "t"
    let r = try runner.run()[0]
    return (r.engine!, r.report)
}
