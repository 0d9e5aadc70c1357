import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct CompareCommand: ParsableCommand, LimitedCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Replay one trace under several policies, side by side.",
        discussion: """
            Each --policy is a preset, a JSON file of knob values, or key=value,… on top of esx; \
            --set and --seed apply to every policy. --sweep key=v1,v2,… (repeatable; key: any knob, \
            host-memory, overcommit or seed) expands every policy over a grid, the cartesian product \
            of the sweeps: runs are ordered by policy (command-line order), then by the first sweep's \
            values, then the second's, and so on (the last sweep varies fastest), each named \
            "POLICY k1=v1 k2=v2". The trace is decoded once and every run's engine replays the same \
            batches, on --jobs worker threads; the output is identical for any --jobs.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, csv, csvSummary = "csv-summary" }

    @Argument(help: "Trace file (binary or text; - reads a binary trace from stdin).") var file: String
    @Option(name: .customLong("policy"), help: ArgumentHelp("A policy (repeatable; default esx).", valueName: "P"))
    var policies: [String] = []
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Set one knob in every policy (repeatable); see `tracetool policy show`.", valueName: "key=value"))
    var assignments: [String] = []
    @Option(help: "Seed for every policy's random choices (overrides each policy's).") var seed: UInt64?
    @Option(
        help: ArgumentHelp(
            "Replay every policy and grid cell with N seeds (the policy's seed and the N − 1 after it); reports give each metric's mean and 95% interval.",
            valueName: "N"))
    var seeds: Int = 1
    @Option(
        name: .customLong("sweep"),
        help: ArgumentHelp(
            "Expand every policy over the values of a knob, host-memory, overcommit or seed (repeatable: a grid).",
            valueName: "key=v1,v2,…"))
    var sweeps: [String] = []
    @Option(help: "Worker threads.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(
        help:
            "Output format: text, json, csv (one row per run and VM, a seed column: docs/REPORT.md), csv-summary (one row per policy and grid cell, means and 95% intervals over the seeds)."
    ) var format: Format = .text
    @OptionGroup var hostOptions: HostOptions
    @OptionGroup var span: RunOptions
    @Option(
        name: .shortAndLong,
        help: "Write the output to this file (atomically; a regular file, never an input) instead of stdout (-).")
    var output: String?
    @Option(help: ArgumentHelp("Also write a self-contained HTML report.", valueName: "FILE.html")) var html: String?
    @Option(
        help: ArgumentHelp(
            "Write every run's timeline to one long CSV (a policy column, a column per swept key, then replay's timeline columns).",
            valueName: "FILE.csv"))
    var timeline: String?
    @Flag(name: .shortAndLong, help: "No progress line on stderr.") var quiet = false
    @OptionGroup var limits: LimitOptions

    /// The most runs one compare makes (policies × grid cells): each is a model in memory.
    static let maxRuns = 4096

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard (1...1000).contains(seeds) else { throw ValidationError("--seeds must be in [1, 1000]") }
        try span.check(timelineWanted: timeline != nil || html != nil)
    }

    /// The sweeps, checked: known keys, no key twice, no host size both swept and fixed.
    func parsedSweeps() throws -> [RunGrid.Sweep] {
        var out: [RunGrid.Sweep] = []
        for s in sweeps {
            do {
                let sweep = try RunGrid.parseSweep(s)
                try RunGrid.checkTogether(out + [sweep])
                out.append(sweep)
            } catch { throw ValidationError("--sweep \(error.description)") }
        }
        let hostKeys = out.map(\.key).filter { RunGrid.hostKeys.contains($0) }
        if !hostKeys.isEmpty && (hostOptions.hostMemory != nil || hostOptions.overcommit != nil) {
            throw ValidationError(
                "--sweep \(hostKeys[0]) and --\(hostOptions.hostMemory != nil ? "host-memory" : "overcommit") both set the host's memory; give one"
            )
        }
        if out.contains(where: { $0.key == "seed" }) && seed != nil {
            throw ValidationError("--sweep seed and --seed both set the seed; give one")
        }
        if out.contains(where: { $0.key == "seed" }) && seeds > 1 {
            throw ValidationError("--sweep seed and --seeds both choose seeds; give one")
        }
        let runs = out.reduce(max(1, policies.count) * seeds) { $0 * $1.values.count }
        guard runs <= Self.maxRuns else {
            throw ValidationError(
                "\(runs) runs (policies × sweep values × seeds) is more than \(Self.maxRuns); sweep fewer values or seeds"
            )
        }
        return out
    }

    /// The runs: every policy (command-line order) at every grid cell (the last sweep varies
    /// fastest).
    func expand() throws -> [PolicyRun] {
        let spec = try hostOptions.spec()
        var base: [PolicyRun] = []
        for p in policies.isEmpty ? ["esx"] : policies {
            let (name, pol) = try policyOrExit("--policy \(p)") { () throws(PolicyError) in
                try RunGrid.policy(p, assignments: assignments, seed: seed)
            }
            base.append(PolicyRun(name: name, policy: pol, spec: spec))
        }
        let runs: [PolicyRun]
        do { runs = try RunGrid.expand(base, sweeps: try parsedSweeps()) } catch let e as RunGrid.Problem {
            throw ValidationError("--sweep \(e.description)")
        }
        guard seeds > 1 else { return runs }
        // Each cell with `seeds` consecutive seeds from its policy's own (the cell stays the
        // same, so summaries group the replicates).
        return RunGrid.replicate(runs) { r in (0..<UInt64(seeds)).map { r.policy.seed &+ $0 } }
    }

    func run() throws {
        let policyFiles = policies.filter { FileManager.default.fileExists(atPath: $0) && !$0.contains("=") }
        try checkOutputs([output, html, timeline], inputs: [file] + policyFiles)
        if html != nil { try refuseStdin([file], "--html (the replays, then stats for its charts)") }
        var runner = ReplayRunner(path: file, runs: try expand())
        runner.jobs = jobs
        span.configure(&runner, timeline: html != nil || timeline != nil)
        let progress = Progress(path: file, enabled: !quiet)
        runner.progress = { progress.update($0) }
        defer { progress.clear() }
        let results = try runner.run()
        progress.clear()
        for r in results { warnRefusals(r.report, file: file, policy: r.name) }
        let trace = TraceFile.displayName(file)
        let text: String
        let kind: BuildStamp.Kind
        switch format {
        case .text: (text, kind) = (CompareRenderer.text(results, trace: trace), .text)
        case .json: (text, kind) = (CompareRenderer.json(results, trace: trace), .json)
        case .csv: (text, kind) = (CompareRenderer.csv(results), .csv)
        case .csvSummary: (text, kind) = (CompareRenderer.csvSummary(results), .csv)
        }
        if let timeline { try AtomicOutput.write(TimelineRenderer.csv(results), to: timeline) }
        if let html {
            let stats = try TraceStats.compute(path: file, interval: span.interval)
            try AtomicOutput.write(
                BuildStamp.stamp(HTMLReport.page(results: results, stats: stats, trace: trace), as: .html), to: html)
        }
        try emitReport(text, as: kind, to: output)
    }
}

/// Runs a policy step, turning its error into a usage error that names `context`.
func policyOrExit<T>(_ context: String, _ body: () throws(PolicyError) -> T) throws -> T {
    let result: Result<T, PolicyError> = Result { () throws(PolicyError) in try body() }
    switch result {
    case .success(let v): return v
    case .failure(let e): throw ValidationError("\(context): \(e.description)")
    }
}
