import Foundation
import Replay
import TraceFormat

/// One swept key's value in a comparison's grid cell (`compare --sweep key=…`).
public struct SweepSetting: Sendable, Equatable, Codable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// One replay of a trace: a display name, the policy it starts from, its grid cell, the knobs,
/// the host settings, and what to keep beside the report. Every command describes its replays
/// this way and hands them to `ReplayRunner`, so the same run gives the same report whichever
/// command ran it.
public struct PolicyRun: Sendable {
    public var name: String
    /// The policy's name before the sweep (the `--policy` argument, with any `--set`).
    public var policyName: String
    /// The swept keys' values, in `--sweep` order (empty without a sweep).
    public var cell: [SweepSetting] = []
    /// 0, or k for the k-th extra seed of `compare --seeds` (it follows the cell's seed 0 and
    /// is summarised with it).
    public var replicate = 0
    public var policy: Policy
    public var spec: HostSpec
    /// Keep a `PeriodRow` per VM per sample period (`ReplayEngine.recordPeriods`; turns
    /// fast-forward off).
    public var recordPeriods = false
    /// Skip steady spans in closed form (off only to check that skipping changes nothing).
    public var fastForward = true
    /// Check every invariant after every step (tests).
    public var checkFullEveryStep = false
    /// false: skip the per-record conservation check even in a checked build (`tracetool
    /// bench`, so a checked build times the same work as a release build); nil: the build's
    /// default.
    public var checkEveryStep: Bool? = nil
    /// Hand the engine back in the result (tests that look inside it).
    public var keepEngine = false
    public init(name: String, policy: Policy, spec: HostSpec) {
        self.name = name
        self.policyName = name
        self.policy = policy
        self.spec = spec
    }
}

/// The result of replaying one trace under one policy.
public struct RunResult: Sendable {
    public var name: String
    /// The policy's name before the sweep, and the run's grid cell (see `PolicyRun`).
    public var policyName: String
    public var cell: [SweepSetting] = []
    public var replicate = 0
    public var report: ReplayReport
    public var timeline: [TimelineRow]
    public var thresholds: FreeState.Thresholds
    public var machinePages: UInt64
    /// Every change of the free-memory state, in time order (recorded with a timeline): the
    /// exact spans the HTML report's state band draws. The run starts in high.
    public var stateChanges: [(time: Micros, state: FreeState)] = []
    /// The per-period rows, with `PolicyRun.recordPeriods`.
    public var periods: [PeriodRow] = []
    /// The engine, with `PolicyRun.keepEngine`.
    public var engine: ReplayEngine?
    public init(
        name: String, report: ReplayReport, timeline: [TimelineRow], thresholds: FreeState.Thresholds,
        machinePages: UInt64
    ) {
        self.name = name
        self.policyName = name
        self.report = report
        self.timeline = timeline
        self.thresholds = thresholds
        self.machinePages = machinePages
    }
}
