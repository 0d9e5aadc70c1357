import Foundation
import Replay
import TraceFormat

/// One policy of a comparison: a display name, the knobs and the host settings.
public struct PolicyRun: Sendable {
    public var name: String
    public var policy: Policy
    public var spec: HostSpec
    public init(name: String, policy: Policy, spec: HostSpec) {
        self.name = name
        self.policy = policy
        self.spec = spec
    }
}

/// The result of replaying one trace under one policy.
public struct RunResult: Sendable {
    public var name: String
    public var report: ReplayReport
    public var timeline: [TimelineRow]
    public var thresholds: FreeState.Thresholds
    public var machinePages: UInt64
    public init(name: String, report: ReplayReport, timeline: [TimelineRow], thresholds: FreeState.Thresholds, machinePages: UInt64) {
        self.name = name
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
    /// Records per block handed to the engines (about 25 MB of decoded records).
    public static let blockRecords = 1 << 19

    public init(path: String, runs: [PolicyRun]) {
        self.path = path
        self.runs = runs
    }

    /// The engines of one block of work: workers take the next engine not yet done (so the
    /// load balances itself), and each engine applies the whole block on one thread, in order.
    final class Pool: @unchecked Sendable {
        let engines: [ReplayEngine]
        private let lock = NSLock()
        private var next = 0
        private var failed: [(index: Int, error: ReplayError)] = []
        init(_ e: [ReplayEngine]) { engines = e }

        func reset() {
            lock.lock()
            next = 0
            lock.unlock()
        }

        var failures: [(index: Int, error: ReplayError)] {
            lock.lock()
            defer { lock.unlock() }
            return failed
        }

        func work(_ slice: ArraySlice<TraceRecord>) {
            while true {
                lock.lock()
                let i = next
                next += 1
                let skip = failed.contains { $0.index == i }
                lock.unlock()
                if i >= engines.count { return }
                if skip { continue }
                do { try engines[i].apply(contentsOf: slice) } catch {
                    lock.lock()
                    failed.append((i, error))
                    lock.unlock()
                }
            }
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case trace(TraceError)
        case config(String)
        case model(policy: String, ReplayError)
        public var description: String {
            switch self {
            case .trace(let e): return e.description
            case .config(let s): return s
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
        for r in runs {
            do {
                let host = try HostConfig.resolve(header: reader.header, policy: r.policy, spec: r.spec, startsOff: startsOff)
                let e = try ReplayEngine(host: host, policy: r.policy)
                e.timelineInterval = timelineInterval
                engines.append(e)
            } catch let e as ConfigError {
                throw .config("policy \(r.name): \(e.description)")
            } catch let e as ReplayError {
                throw .model(policy: r.name, e)
            } catch {
                throw .config("policy \(r.name): \(error)")
            }
        }
        let workers = max(1, min(jobs, engines.count))
        let pool = Pool(engines)
        // Records are gathered into large blocks before the engines take them: each engine then
        // works through a block while its own data is warm in the caches (switching engines
        // every chunk of ~30,000 records made the whole run 1.6× slower, measured).
        var batch: [TraceRecord] = []
        var block: [TraceRecord] = []
        block.reserveCapacity(CompareRunner.blockRecords)
        var last = Micros.zero
        var stop = false
        func dispatch() throws(Failure) {
            guard !block.isEmpty else { return }
            let slice = block[...]
            pool.reset()
            if workers == 1 {
                pool.work(slice)
            } else {
                let shared = UnsafeSendable(slice)
                DispatchQueue.concurrentPerform(iterations: workers) { _ in pool.work(shared.value) }
            }
            // The failure of the lowest-numbered policy, so the message never depends on timing.
            if let f = pool.failures.min(by: { $0.index < $1.index }) {
                throw .model(policy: runs[f.index].name, f.error)
            }
            last = block[block.count - 1].time
            block.removeAll(keepingCapacity: true)
        }
        while !stop {
            let more: Bool
            do { more = try reader.next(into: &batch) } catch { throw .trace(error) }
            if !more { break }
            var end = batch.endIndex
            if let until, let cut = batch.firstIndex(where: { $0.time > until }) {
                end = cut
                stop = true
            }
            block.append(contentsOf: batch[..<end])
            if block.count >= CompareRunner.blockRecords { try dispatch() }
            progress?(reader)
        }
        try dispatch()
        let finish = Micros((until ?? last).rawValue + settle.rawValue)
        var results: [RunResult] = []
        for (i, e) in engines.enumerated() {
            do { try e.finish(settleUntil: finish) } catch { throw .model(policy: runs[i].name, error) }
            results.append(RunResult(name: runs[i].name,
                                     report: ReplayReport(trace: URL(fileURLWithPath: path).lastPathComponent, snapshot: e.snapshot()),
                                     timeline: e.timeline, thresholds: e.thresholds, machinePages: e.host.machinePages))
        }
        return results
    }

}

/// Hands a value to concurrent workers that only read it.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
