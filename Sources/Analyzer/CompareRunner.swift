import Foundation
import Replay
import TraceFormat

/// One swept key's value in a comparison's grid cell (`compare --sweep key=…`).
public struct SweepSetting: Sendable, Equatable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// One run of a comparison: a display name, the policy it starts from, its grid cell, the
/// knobs and the host settings.
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
    public init(name: String, report: ReplayReport, timeline: [TimelineRow], thresholds: FreeState.Thresholds, machinePages: UInt64) {
        self.name = name
        self.policyName = name
        self.report = report
        self.timeline = timeline
        self.thresholds = thresholds
        self.machinePages = machinePages
    }
}

/// Replays one trace under several policies: one reader decodes each block of records once
/// and every engine applies it, on `jobs` worker threads that take the next engine as they
/// finish one (as Caffeine's simulator shares one trace among its policies). Each engine sees
/// the same records in the same order whatever `jobs` is, so the results are identical for
/// any thread count.
public struct CompareRunner {
    public var path: String
    public var runs: [PolicyRun]
    public var jobs: Int = 1
    public var until: Micros?
    public var settle: Micros = .zero
    public var timelineInterval: Micros?
    public var progress: ((any TraceReader) -> Void)?
    /// Records per block handed to the engines (about 12 MB of decoded records).
    public static let blockRecords = 1 << 18

    public init(path: String, runs: [PolicyRun]) {
        self.path = path
        self.runs = runs
    }

    /// One decode feeding every policy's engine: blocks of records shared by every engine, with no barrier between blocks: a worker
    /// takes any engine that is idle and has a block left (the one furthest behind first), so
    /// the work balances itself; each engine applies its blocks one at a time, in order. The
    /// reader waits when it is `maxAhead` blocks ahead of the slowest engine.
    final class SharedDecodePipeline: @unchecked Sendable {
        let engines: [ReplayEngine]
        let maxAhead: Int
        private let cond = NSCondition()
        private var blocks: [[TraceRecord]] = []
        private var base = 0                 // index of blocks[0]
        private var produced = 0
        private var closed = false
        private var next: [Int]
        private var busy: [Bool]
        private var failed: [(index: Int, error: ReplayError)] = []

        init(_ e: [ReplayEngine], maxAhead: Int) {
            engines = e
            self.maxAhead = maxAhead
            next = Array(repeating: 0, count: e.count)
            busy = Array(repeating: false, count: e.count)
        }

        var failures: [(index: Int, error: ReplayError)] {
            cond.lock()
            defer { cond.unlock() }
            return failed
        }

        private func isFailed(_ i: Int) -> Bool { failed.contains { $0.index == i } }

        /// The block index the slowest live engine still needs.
        private var slowest: Int {
            var m = produced
            for i in engines.indices where !isFailed(i) { m = min(m, next[i]) }
            return m
        }

        func produce(_ block: [TraceRecord]) {
            cond.lock()
            while produced - slowest >= maxAhead { cond.wait() }
            blocks.append(block)
            produced += 1
            cond.broadcast()
            cond.unlock()
        }

        func close() {
            cond.lock()
            closed = true
            cond.broadcast()
            cond.unlock()
        }

        func work() {
            cond.lock()
            while true {
                var pick = -1
                for i in engines.indices where !busy[i] && !isFailed(i) && next[i] < produced {
                    if pick < 0 || next[i] < next[pick] { pick = i }
                }
                if pick >= 0 {
                    busy[pick] = true
                    let k = next[pick]
                    let records = blocks[k - base]
                    cond.unlock()
                    var failure: ReplayError?
                    do { try engines[pick].apply(contentsOf: records[...]) } catch { failure = error }
                    cond.lock()
                    busy[pick] = false
                    next[pick] += 1
                    if let failure { failed.append((pick, failure)) }
                    // Drop blocks every live engine is done with.
                    let s = slowest
                    if s > base {
                        blocks.removeFirst(s - base)
                        base = s
                    }
                    cond.broadcast()
                    continue
                }
                let done = engines.indices.allSatisfy { isFailed($0) || (next[$0] == produced && !busy[$0]) }
                if closed && done {
                    cond.unlock()
                    return
                }
                cond.wait()
            }
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case trace(TraceError)
        /// A setting that does not fit the trace or the machine; `usage` when the command line
        /// caused it (a --vm for a VM the trace lacks, a host too small), not the trace or a limit.
        case config(String, usage: Bool)
        case model(policy: String, ReplayError)
        public var description: String {
            switch self {
            case .trace(let e): return e.description
            case .config(let s, _): return s
            case .model(let p, let e): return "policy \(p): \(e.description)"
            }
        }
    }

    public func run() throws(Failure) -> [RunResult] {
        let startsOff: Set<UInt32>
        let reader: any TraceReader
        do {
            startsOff = try Replayer.vmsStartingOff(path: path)
            reader = try TraceFile.open(path)
        } catch { throw .trace(error) }
        var engines: [ReplayEngine] = []
        var planned = 0.0
        for r in runs {
            if let host = try? HostConfig.resolve(header: reader.header, policy: r.policy, spec: r.spec, startsOff: startsOff) {
                planned += ReplayEngine.plannedBytes(host)
            }
        }
        if let problem = MemoryBudget.problem(planned, for: "replaying \(runs.count) policies at once (one model each)") {
            throw .config(problem, usage: false)
        }
        for r in runs {
            do {
                let host = try HostConfig.resolve(header: reader.header, policy: r.policy, spec: r.spec, startsOff: startsOff)
                let e = try ReplayEngine(host: host, policy: r.policy)
                e.timelineInterval = timelineInterval
                engines.append(e)
            } catch let e as ConfigError {
                throw .config("policy \(r.name): \(e.description)", usage: !e.inTrace)
            } catch let e as ReplayError {
                throw .model(policy: r.name, e)
            } catch {
                throw .config("policy \(r.name): \(error)", usage: false)
            }
        }
        let workers = max(1, min(jobs, engines.count))
        let pipe = SharedDecodePipeline(engines, maxAhead: 4)
        let group = DispatchGroup()
        for _ in 0..<workers {
            DispatchQueue.global().async(group: group) { pipe.work() }
        }
        // The reader decodes blocks while the workers replay earlier ones.
        var batch: [TraceRecord] = []
        var block: [TraceRecord] = []
        block.reserveCapacity(CompareRunner.blockRecords)
        var last = Micros.zero
        var stop = false
        var readError: TraceError?
        while !stop {
            let more: Bool
            do { more = try reader.next(into: &batch) } catch { readError = error; break }
            if !more { break }
            var end = batch.endIndex
            if let until, let cut = batch.firstIndex(where: { $0.time > until }) {
                end = cut
                stop = true
            }
            block.append(contentsOf: batch[..<end])
            if block.count >= CompareRunner.blockRecords {
                last = block[block.count - 1].time
                pipe.produce(block)
                block = []
                block.reserveCapacity(CompareRunner.blockRecords)
            }
            progress?(reader)
        }
        if !block.isEmpty {
            last = block[block.count - 1].time
            pipe.produce(block)
        }
        pipe.close()
        group.wait()
        if let readError { throw .trace(readError) }
        // The failure of the lowest-numbered policy, so the message never depends on timing.
        if let f = pipe.failures.min(by: { $0.index < $1.index }) {
            throw .model(policy: runs[f.index].name, f.error)
        }
        let finish = Micros((until ?? last).rawValue + settle.rawValue)
        var results: [RunResult] = []
        for (i, e) in engines.enumerated() {
            do { try e.finish(tracedUntil: until ?? last, settleUntil: finish) } catch { throw .model(policy: runs[i].name, error) }
            var r = RunResult(name: runs[i].name,
                              report: ReplayReport(trace: URL(fileURLWithPath: path).lastPathComponent, policyName: runs[i].name, snapshot: e.snapshot()),
                              timeline: e.timeline, thresholds: e.thresholds, machinePages: e.host.machinePages)
            r.policyName = runs[i].policyName
            r.stateChanges = e.stateChanges
            r.cell = runs[i].cell
            r.replicate = runs[i].replicate
            results.append(r)
        }
        return results
    }

}
