import Foundation
import Replay
import TraceFormat

/// The one way to run replays: every command (`replay`, `compare`, `plan`, `study`,
/// `reproduce`, `bench`) and the tests describe their runs of one trace as `PolicyRun`s and
/// get `RunResult`s from here. It opens the trace once, finds the VMs that start powered off,
/// resolves each run's host, builds its engine, and replays them all off one decode: each block
/// of records is decoded once and every engine applies it, on `jobs` worker threads that take
/// the next engine as they finish one (as Caffeine's simulator shares one trace among its
/// policies). Each engine sees the same records in the same order whatever `jobs` is, so the
/// results are identical for any thread count, and one run gives the same report whichever
/// command ran it.
public struct ReplayRunner {
    public var path: String
    public var runs: [PolicyRun]
    public var jobs: Int = 1
    public var until: Micros?
    public var settle: Micros = .zero
    public var timelineInterval: Micros?
    /// The trace's name in the reports (default: the file's name).
    public var traceName: String?
    /// Called on the decoding thread after every batch, with how far the reader got.
    public var progress: ((ReadPosition) -> Void)?
    /// Called with the simulated time reached and the span's end during spans between records
    /// (or after the last) that cannot be skipped in closed form (`ReplayEngine.spanProgress`).
    public var spanProgress: (@Sendable (Micros, Micros) -> Void)?
    /// Records per block handed to the engines (about 12 MB of decoded records); one engine
    /// takes each batch as it is decoded.
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
        private var base = 0  // index of blocks[0]
        private var produced = 0
        private var closed = false
        private var next: [Int]
        private var busy: [Bool]
        private var failed: [(index: Int, error: ReplayError)] = []
        /// Blocks every engine is done with, for the reader to decode into again.
        private var spare: [[TraceRecord]] = []

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

        /// A block every engine is done with (its storage reused), or an empty one.
        func spareBlock() -> [TraceRecord] {
            cond.lock()
            defer { cond.unlock() }
            return spare.popLast() ?? []
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
                        for b in blocks[..<(s - base)] where spare.count <= maxAhead { spare.append(b) }
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

    /// Why the runs stopped, as one line that names the trace (and the run, when there are
    /// several).
    public enum Failure: Error, CustomStringConvertible {
        case trace(TraceError)
        /// A setting that does not fit the trace or the machine; `usage` when the command line
        /// caused it (a --vm for a VM the trace lacks, a host too small), not the trace or a limit.
        case config(String, usage: Bool)
        case model(ReplayError)
        public var description: String {
            switch self {
            case .trace(let e): return e.description
            case .config(let s, _): return s
            case .model(let e): return e.description
            }
        }
        /// A failure of the command line (exit status 64) rather than of the run.
        public var isUsage: Bool {
            if case .config(_, usage: true) = self { return true }
            return false
        }
    }

    /// "FILE: " or "FILE: policy NAME: ", the start of a failure's line.
    func prefix(_ r: PolicyRun) -> String { shownPath + ": " + (runs.count == 1 ? "" : "policy \(r.name): ") }

    /// The trace as messages name it (`stdin` for `-`).
    var shownPath: String { TraceFile.shownPath(path) }

    func modelFailure(_ r: PolicyRun, _ e: ReplayError) -> Failure {
        var e = e
        e.file = prefix(r).dropLast(2).description
        return .model(e)
    }

    public func run() throws(Failure) -> [RunResult] {
        let input: TraceInput
        do { input = try TraceInput.open(path) } catch { throw .trace(error) }
        let reader = input.reader
        var engines: [ReplayEngine] = []
        var planned = 0.0
        for r in runs {
            if let host = try? input.host(policy: r.policy, spec: r.spec) { planned += ReplayEngine.plannedBytes(host) }
        }
        let pages = reader.header.vms.reduce(UInt64(0)) { $0 + $1.pages }
        let what =
            runs.count == 1
            ? "the model's page state for \(pages) guest pages (about \(ReplayEngine.bytesPerGuestPage) bytes each)"
            : "replaying \(runs.count) policies at once (one model each)"
        if let problem = MemoryBudget.problem(planned, for: what) {
            throw .config(shownPath + ": " + problem, usage: false)
        }
        for r in runs {
            do {
                let e = try ReplayEngine(host: try input.host(policy: r.policy, spec: r.spec), policy: r.policy)
                e.timelineInterval = timelineInterval
                if r.recordPeriods { e.recordPeriods = true }
                if !r.fastForward { e.fastForward = false }
                if r.checkFullEveryStep { e.checkFullEveryStep = true }
                if let c = r.checkEveryStep { e.checkEveryStep = c }
                if let spanProgress { e.spanProgress = spanProgress }
                engines.append(e)
            } catch let e as ConfigError {
                throw .config(prefix(r) + e.description, usage: !e.inTrace)
            } catch let e as ReplayError {
                throw modelFailure(r, e)
            } catch {
                throw .config(prefix(r) + "\(error)", usage: false)
            }
        }
        let workers = max(1, min(jobs, engines.count))
        let pipe = SharedDecodePipeline(engines, maxAhead: 4)
        let group = DispatchGroup()
        for _ in 0..<workers {
            DispatchQueue.global().async(group: group) { pipe.work() }
        }
        // The reader decodes blocks while the workers replay earlier ones; with one engine each
        // batch goes as it is decoded.
        let blockRecords = engines.count == 1 ? 1 : ReplayRunner.blockRecords
        var batch: [TraceRecord] = []
        var block: [TraceRecord] = []
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
            if block.isEmpty && end == batch.endIndex {
                // The whole batch becomes the block; the reader decodes into a spent block.
                swap(&block, &batch)
                batch = pipe.spareBlock()
            } else {
                block.append(contentsOf: batch[..<end])
            }
            if block.count >= blockRecords {
                last = block[block.count - 1].time
                pipe.produce(block)
                block = []
                if blockRecords > 1 { block.reserveCapacity(blockRecords) }
            }
            progress?(ReadPosition(reader))
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
            throw modelFailure(runs[f.index], f.error)
        }
        let traced = until ?? last
        let finish = Micros(traced.rawValue + settle.rawValue)
        let trace = traceName ?? TraceFile.displayName(path)
        var results: [RunResult] = []
        for (i, e) in engines.enumerated() {
            do { try e.finish(tracedUntil: traced, settleUntil: finish) } catch { throw modelFailure(runs[i], error) }
            var report = ReplayReport(trace: trace, policyName: runs[i].name, snapshot: e.snapshot())
            // A capture that recorded writes only (attached VMs) says so in every report.
            if reader.header.capture.accesses == "interval-writes" { report.readsRecorded = false }
            var r = RunResult(
                name: runs[i].name, report: report, timeline: e.timeline, thresholds: e.thresholds,
                machinePages: e.host.machinePages)
            r.policyName = runs[i].policyName
            r.stateChanges = e.stateChanges
            r.periods = e.periods
            r.cell = runs[i].cell
            r.replicate = runs[i].replicate
            if runs[i].keepEngine { r.engine = e }
            results.append(r)
        }
        return results
    }
}
