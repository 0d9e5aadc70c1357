import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Replay one trace under several policies, side by side.",
        discussion: """
        Each --policy is a preset, a JSON file of knob values, or key=value,… on top of esx. \
        --sweep key=v1,v2,… expands every policy into one per value (key: any knob, host-memory \
        or overcommit). The trace is decoded once and every policy's engine replays the same \
        batches, on --jobs worker threads; the output is identical for any --jobs.
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, csv }

    @Argument(help: "Trace file (binary or text).") var file: String
    @Option(name: .customLong("policy"), help: ArgumentHelp("A policy (repeatable; default esx).", valueName: "P")) var policies: [String] = []
    @Option(help: ArgumentHelp("Expand each policy over values of one knob, host-memory or overcommit.", valueName: "key=v1,v2,…")) var sweep: String?
    @Option(help: "Worker threads.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Output format.") var format: Format = .text
    @Option(parsing: .unconditional, help: ArgumentHelp("Machine memory for every policy, e.g. 1GiB, 1.5G, 4096 pages (K/M/G/T are binary; a bare number is refused).", valueName: "SIZE")) var hostMemory: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Memory for VMs = sum of max / R, for every policy.", valueName: "R")) var overcommit: Double?
    @Option(help: ArgumentHelp("Stop at this simulated time.", valueName: "T")) var until: String?
    @Option(help: ArgumentHelp("Keep the clock running this long after the last record.", valueName: "D")) var settle: String?
    @Option(name: .shortAndLong, help: "Write the output to this file (atomically; a regular file, never an input) instead of stdout (-).") var output: String?
    @Option(help: ArgumentHelp("Also write a self-contained HTML report.", valueName: "FILE.html")) var html: String?
    @Flag(name: .shortAndLong, help: "No progress line on stderr.") var quiet = false
    @OptionGroup var limits: LimitOptions

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if hostMemory != nil && overcommit != nil { throw ValidationError("give --host-memory or --overcommit, not both") }
        if let until, Units.parseDuration(until) == nil { throw ValidationError("--until: bad duration \"\(until)\"") }
        if let settle, Units.parseDuration(settle) == nil { throw ValidationError("--settle: bad duration \"\(settle)\"") }
        if let r = overcommit, !(r > 0 && r.isFinite) { throw ValidationError("--overcommit must be a positive number") }
        do {
            if let h = hostMemory { _ = try Units.parseSize(h) }
        } catch { throw ValidationError("--host-memory \(error.description)") }
    }

    /// The policies to run, in command-line order, each expanded by the sweep.
    func expand() throws -> [PolicyRun] {
        var base: [PolicyRun] = []
        var spec = HostSpec()
        if let h = hostMemory { spec.memory = .size(h) }
        if let r = overcommit { spec.memory = .overcommit(r) }
        for p in policies.isEmpty ? ["esx"] : policies {
            let (name, pol) = try policyOrExit("--policy \(p)") { () throws(PolicyError) in
                let r = try PolicyKnobs.resolve(p)
                try r.policy.validate()
                return r
            }
            base.append(PolicyRun(name: name, policy: pol, spec: spec))
        }
        guard let sweep else { return base }
        let kv = sweep.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[1].isEmpty else { throw ValidationError("--sweep: expected key=v1,v2,…") }
        let values = kv[1].split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        var out: [PolicyRun] = []
        for b in base {
            for v in values {
                var r = b
                r.name = "\(b.name) \(kv[0])=\(v)"
                switch kv[0] {
                case "host-memory":
                    do { _ = try Units.parseSize(v) } catch { throw ValidationError("--sweep host-memory: \(error.description)") }
                    r.spec.memory = .size(v)
                case "overcommit":
                    guard let x = Double(v), x > 0, x.isFinite else { throw ValidationError("--sweep overcommit: \"\(v)\" is not a positive number") }
                    r.spec.memory = .overcommit(x)
                default:
                    var pol = r.policy
                    r.policy = try policyOrExit("--sweep") { () throws(PolicyError) in
                        try PolicyKnobs.set(kv[0], v, on: &pol)
                        try pol.validate()
                        return pol
                    }
                }
                out.append(r)
            }
        }
        return out
    }

    func run() throws {
        let policyFiles = policies.filter { FileManager.default.fileExists(atPath: $0) && !$0.contains("=") }
        try checkOutputs([output, html], inputs: [file] + policyFiles)
        var runner = CompareRunner(path: file, runs: try expand())
        runner.jobs = jobs
        runner.until = until.flatMap(Units.parseDuration)
        runner.settle = settle.flatMap(Units.parseDuration) ?? .zero
        if html != nil { runner.timelineInterval = Micros.seconds(10) }
        let progress = Progress(path: file, enabled: !quiet)
        runner.progress = { progress.update($0) }
        let results: [RunResult]
        do { results = try runner.run() } catch {
            progress.clear()
            printError("\(file): \(error.description)")
            if case .config(_, usage: true) = error { throw ExitCode(ExitStatus.usage) }
            throw ExitCode(ExitStatus.failure)
        }
        progress.clear()
        for r in results { warnRefusals(r.report, file: file, policy: r.name) }
        let trace = URL(fileURLWithPath: file).lastPathComponent
        let text: String
        switch format {
        case .text: text = CompareRenderer.text(results, trace: trace)
        case .json: text = CompareRenderer.json(results, trace: trace)
        case .csv: text = CompareRenderer.csv(results)
        }
        try reportingErrors {
            if let html {
                let stats = try TraceStats.compute(path: file, interval: Micros.seconds(10))
                try AtomicOutput.write(HTMLReport.page(results: results, stats: stats, trace: trace), to: html)
            }
        }
        try emit(text, to: output)
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
