import Foundation
import Replay
import Scenarios
import TraceFormat

/// What one replay of the reproduction gave: its report, timeline and sample periods, or why
/// it did not run (a bundled trace missing from the traces folder).
struct ReproOutcome: Sendable {
    var report: ReplayReport?
    var timeline: [TimelineRow] = []
    var periods: [PeriodRow] = []
    var thresholds: FreeState.Thresholds?
    var stateChanges: [(time: Micros, state: FreeState)] = []
    /// Set when the run could not be made (the trace is not there).
    var missing: String?
    /// A stats run's result, and the trace's header (its capture facts).
    var stats: TraceStats?
    var header: TraceHeader?
}

/// Runs a plan: makes the generated traces and the VM subsets in a temporary folder, then
/// every replay, `jobs` at a time. Results are stored by the run's index, so the output never
/// depends on which job finished first.
enum ReproductionRunner {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(
        _ plan: ReproductionPlan, options: ReproductionOptions,
        progress: (@Sendable (String) -> Void)? = nil
    ) throws(Failure) -> [ReproOutcome] {
        let done = Locked(0)
        let steps = Set(plan.runs.map(\.source)).count + plan.runs.count
        let report: @Sendable (String) -> Void = { line in
            guard let progress else { return }
            let n = done.update { (n: inout Int) -> Int in
                n += 1
                return n
            }
            progress("[\(n)/\(steps)] \(line)")
        }
        removeAbandoned()
        let dir =
            NSTemporaryDirectory()
            + "tracetool-reproduce-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw Failure(description: "cannot make a temporary folder \(dir): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // 1. The inputs: each distinct source once.
        var found: [ReproSource] = []
        for r in plan.runs where !found.contains(r.source) { found.append(r.source) }
        let sources = found
        let paths = Locked([ReproSource: String]())
        let missing = Locked([ReproSource: String]())
        try parallel(sources.count, jobs: options.jobs) { i throws(Failure) in
            let src = sources[i]
            let out = dir + "/input-\(i).mtr.zst"
            switch src {
            case .bundled(let file, let n):
                let path = (options.tracesDir as NSString).appendingPathComponent(file)
                guard FileManager.default.fileExists(atPath: path) else {
                    missing.update { $0[src] = "\(path) not found" }
                    return
                }
                guard let n else {
                    paths.update { $0[src] = path }
                    return
                }
                do {
                    _ = try TraceSinks.copy(
                        from: try TraceFile.open(path), to: out, level: 1, onlyVMs: (0..<UInt32(n)).map { $0 })
                } catch { throw Failure(description: "\(path): \(error)") }
                paths.update { $0[src] = out }
            case .gen(let name, let key):
                guard let scenario = ScenarioRegistry.named(name) else {
                    throw Failure(description: "no scenario \(name)")
                }
                do { _ = try ScenarioRegistry.write(scenario, options: key.options, to: out, level: 1) } catch {
                    throw Failure(description: "gen \(name): \(error)")
                }
                paths.update { $0[src] = out }
            }
            report("made \(src.label)")
        }

        // 2. The replays.
        let outcomes = Locked([ReproOutcome?](repeating: nil, count: plan.runs.count))
        try parallel(plan.runs.count, jobs: options.jobs) { i throws(Failure) in
            let r = plan.runs[i]
            if let why = missing.value[r.source] {
                outcomes.update { $0[i] = ReproOutcome(missing: why) }
                return
            }
            guard let path = paths.value[r.source] else { throw Failure(description: "no input for \(r.source.label)") }
            let o: ReproOutcome
            do { o = try replay(path: path, r) } catch {
                throw Failure(description: "\(r.source.label), \(r.policyName): \(error)")
            }
            outcomes.update { $0[i] = o }
            report(
                r.statsInterval == nil
                    ? "replayed \(r.source.label) under \(r.policyName)" : "stats of \(r.source.label)")
        }
        return outcomes.value.map { $0! }
    }

    /// Removes the temporary folders of reproductions whose process is gone (interrupted with
    /// Ctrl-C or killed before its own cleanup): `tracetool-reproduce-PID-UUID` in the
    /// temporary folder, this host's.
    static func removeAbandoned() {
        let tmp = NSTemporaryDirectory()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tmp) else { return }
        for n in names where n.hasPrefix("tracetool-reproduce-") {
            let parts = n.dropFirst("tracetool-reproduce-".count).split(separator: "-", maxSplits: 1)
            guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, pid != getpid(),
                UUID(uuidString: String(parts[1])) != nil
            else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (tmp as NSString).appendingPathComponent(n))
            }
        }
    }

    static func replay(path: String, _ r: ReproRun) throws -> ReproOutcome {
        if let iv = r.statsInterval {
            let header = try TraceFile.open(path).header
            return ReproOutcome(stats: try TraceStats.compute(path: path, interval: iv), header: header)
        }
        var run = PolicyRun(name: r.policyName, policy: r.policy, spec: r.spec)
        run.recordPeriods = r.periods
        var runner = ReplayRunner(path: path, runs: [run])
        runner.settle = r.settle
        runner.timelineInterval = r.timeline
        runner.traceName = r.source.label
        let result = try runner.run()[0]
        return ReproOutcome(
            report: result.report, timeline: result.timeline, periods: result.periods, thresholds: result.thresholds,
            stateChanges: result.stateChanges)
    }

    /// Runs `body(0..<count)` on `jobs` threads; the first failure (by index) is thrown after
    /// all have stopped.
    static func parallel(_ count: Int, jobs: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws(Failure) {
        let next = Locked(0)
        let failures = Locked([(Int, Failure)]())
        let group = DispatchGroup()
        for _ in 0..<max(1, min(jobs, count)) {
            DispatchQueue.global().async(group: group) {
                while true {
                    let i = next.update { n -> Int in
                        defer { n += 1 }; return n
                    }
                    if i >= count || !failures.value.isEmpty { return }
                    do { try body(i) } catch {
                        let f = error as? Failure ?? Failure(description: "\(error)")
                        failures.update { $0.append((i, f)) }
                    }
                }
            }
        }
        group.wait()
        if let f = failures.value.min(by: { $0.0 < $1.0 }) { throw f.1 }
    }
}

/// A value behind a lock.
final class Locked<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    @discardableResult
    func update<R>(_ f: (inout T) -> R) -> R { lock.lock(); defer { lock.unlock() }; return f(&v) }
}
