import Foundation
import Replay
import TraceFormat

/// A cell's result file, `cells/ID.json` in the study's output folder; a failed cell leaves
/// `cells/ID.error.json` instead (its message), removed when the cell later succeeds.
public struct StudyCellResult: Codable, Sendable {
    public static let schemaVersion = 1
    public var schemaVersion: Int
    public var cell: Int
    public var inputHash: String
    public var trace: String
    public var run: String
    public var policy: String
    public var settings: [SweepSetting]
    public var seed: UInt64
    /// The replay report (docs/REPORT.md), or nil in an error file.
    public var report: ReplayReport?
    public var error: String?
}

public enum StudyRunner {
    /// What a run did: cells run (and of them failed), cells skipped because their result with
    /// the same input hash was there.
    public struct Outcome: Sendable, Equatable {
        public var ran = 0
        public var failed: [Int] = []
        public var skipped = 0
    }

    /// Most cells of one trace replayed at once (one decode serves them; each is a model in
    /// memory).
    public static let cellsPerPass = 16

    public static func cellsDir(_ out: String) -> String { out + "/cells" }
    public static func resultPath(_ out: String, _ id: Int) -> String { cellsDir(out) + "/\(id).json" }
    static func errorPath(_ out: String, _ id: Int) -> String { cellsDir(out) + "/\(id).error.json" }

    /// The result on disk for `cell`, if it is there, readable and of the same inputs.
    static func existing(_ cell: StudyCell, out: String) -> StudyCellResult? {
        guard let d = FileManager.default.contents(atPath: resultPath(out, cell.id)),
            let r = try? JSONDecoder().decode(StudyCellResult.self, from: d),
            r.cell == cell.id, r.inputHash == cell.inputHash, r.report != nil
        else { return nil }
        return r
    }

    /// Runs `ids` (all cells when nil) whose result is not there yet, grouping the cells of one
    /// trace so that one decode serves up to `cellsPerPass` of them on `jobs` threads. Each
    /// result is written atomically as soon as its pass ends, so an interrupted run loses at
    /// most the pass under way.
    public static func run(
        _ plan: StudyPlan, ids: [Int]?, out: String, jobs: Int,
        log: ((String) -> Void)? = nil
    ) throws(StudySpec.Failure) -> Outcome {
        do { try FileManager.default.createDirectory(atPath: cellsDir(out), withIntermediateDirectories: true) } catch {
            throw .init("cannot make \(cellsDir(out)): \(error.localizedDescription)")
        }
        var o = Outcome()
        var todo: [StudyCell] = []
        for id in ids ?? Array(plan.cells.indices) {
            guard plan.cells.indices.contains(id) else {
                throw .init("no cell \(id): the study has cells 0…\(plan.cells.count - 1)")
            }
            let c = plan.cells[id]
            if existing(c, out: out) != nil { o.skipped += 1 } else { todo.append(c) }
        }
        // By trace, in plan order, at most cellsPerPass at a time.
        var byTrace: [(String, [StudyCell])] = []
        for c in todo {
            if let i = byTrace.firstIndex(where: { $0.0 == c.tracePath }) {
                byTrace[i].1.append(c)
            } else {
                byTrace.append((c.tracePath, [c]))
            }
        }
        for (path, cells) in byTrace {
            var start = 0
            while start < cells.count {
                let pass = Array(cells[start..<min(start + cellsPerPass, cells.count)])
                start += pass.count
                let results = replay(path, pass, plan.spec, jobs: jobs)
                for (c, r) in zip(pass, results) {
                    o.ran += 1
                    var file = StudyCellResult(
                        schemaVersion: StudyCellResult.schemaVersion, cell: c.id, inputHash: c.inputHash,
                        trace: c.trace,
                        run: c.run.name, policy: c.run.policyName, settings: c.run.cell, seed: c.run.policy.seed,
                        report: nil, error: nil)
                    switch r {
                    case .success(let rr):
                        file.report = rr.report
                        try write(file, to: resultPath(out, c.id))
                        try? FileManager.default.removeItem(atPath: errorPath(out, c.id))
                        log?("cell \(c.id): \(c.trace), \(c.run.name)")
                    case .failure(let e):
                        o.failed.append(c.id)
                        file.error = e.description
                        try write(file, to: errorPath(out, c.id))
                        log?("cell \(c.id) failed: \(e.description)")
                    }
                }
            }
        }
        return o
    }

    /// One pass: all cells through one decode; if that fails, each alone, so that every cell
    /// gets its own result or its own error.
    static func replay(
        _ path: String, _ cells: [StudyCell], _ spec: StudySpec, jobs: Int
    ) -> [Result<RunResult, StudySpec.Failure>] {
        func runner(_ cs: [StudyCell]) -> ReplayRunner {
            var r = ReplayRunner(path: path, runs: cs.map(\.run))
            r.jobs = jobs
            r.settle = spec.settle
            r.until = spec.until
            return r
        }
        if let all = try? runner(cells).run() { return all.map { .success($0) } }
        return cells.map { c in
            do throws(ReplayRunner.Failure) { return .success(try runner([c]).run()[0]) } catch {
                return .failure(.init("\(c.trace): \(error.description)"))
            }
        }
    }

    static func write(_ r: StudyCellResult, to path: String) throws(StudySpec.Failure) {
        let data: Data
        do { data = try JSONEncoder.canonical(pretty: true).encode(r) } catch {
            throw .init("cannot encode cell \(r.cell): \(error)")
        }
        do { try AtomicOutput.write(Array(data) + [10], to: path) } catch { throw .init(error.description) }
    }

    /// `--cell-from-env`: SLURM_ARRAY_TASK_ID (a Slurm array task) or JOB_COMPLETION_INDEX (a
    /// Kubernetes Indexed Job).
    public static func cellFromEnvironment(_ env: [String: String]) -> Result<Int, StudySpec.Failure> {
        for k in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
            if let v = env[k] {
                guard let i = Int(v), i >= 0 else { return .failure(.init("\(k)=\(v) is not a cell id")) }
                return .success(i)
            }
        }
        return .failure(.init("--cell-from-env: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set"))
    }
}
