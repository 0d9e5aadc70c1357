import Foundation
@testable import Analyzer
@testable import Replay
import Scenarios
import TraceFormat

// Shared by ReplayTests and AnalyzerTests (each folder links this file).

func runScenario(_ scenario: any TraceScenario.Type, _ o: GenOptions, policy: Policy, spec: HostSpec = HostSpec(),
                 settle: Micros = .zero, timeline: Micros? = nil) throws -> (ReplayEngine, ReplayReport) {
    let dir = NSTemporaryDirectory() + "tt-sc-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/t.mtr.zst"
    try ScenarioRegistry.write(scenario, options: o, to: path)
    let reader = try TraceFile.open(path)
    let host = try HostConfig.resolve(header: reader.header, policy: policy, spec: spec,
                                      startsOff: try Replayer.vmsStartingOff(path: path))
    let e = try ReplayEngine(host: host, policy: policy)
    e.timelineInterval = timeline
    var rp = Replayer()
    rp.settle = settle
    try rp.run(reader, engine: e)
    return (e, ReplayReport(trace: "t", policyName: "esx", snapshot: e.snapshot()))
}
