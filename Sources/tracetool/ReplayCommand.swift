import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

/// Options shared by every command that runs the model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Policy: a preset, a JSON file of knob values, or key=value,… on top of esx.", valueName: "P"))
    var policy: String = "esx"
    @Option(name: .customLong("set"), help: ArgumentHelp("Set one knob (repeatable); see `tracetool policy show`.", valueName: "key=value"))
    var assignments: [String] = []
    @Option(help: "Seed for every random choice (overrides the policy's).") var seed: UInt64?
    @Option(help: ArgumentHelp("Machine memory (1GiB, 512MiB, N pages). Default: every VM at max + overheads + high threshold.", valueName: "SIZE"))
    var hostMemory: String?
    @Option(help: ArgumentHelp("Memory for VMs = sum of max / R (plus overheads).", valueName: "R")) var overcommit: Double?
    @Option(help: ArgumentHelp("Swap size. Default: sum of (max - min).", valueName: "SIZE")) var swap: String?
    @Option(name: .customLong("vm"), help: ArgumentHelp("Per-VM settings (repeatable).", valueName: "ID:min=SIZE,shares=N,balloon=on|off"))
    var vmOverrides: [String] = []

    func validate() throws {
        if hostMemory != nil && overcommit != nil { throw ValidationError("give --host-memory or --overcommit, not both") }
        if let r = overcommit, !(r > 0) { throw ValidationError("--overcommit must be > 0") }
    }

    /// The policy, its display name, and the host spec.
    func resolve() throws -> (name: String, policy: Policy, spec: HostSpec) {
        do {
            var (name, p) = try PolicyKnobs.resolve(policy)
            for a in assignments { try PolicyKnobs.apply(assignments: a, to: &p) }
            if let seed { p.seed = seed }
            try p.validate()
            if !assignments.isEmpty { name += " + " + assignments.joined(separator: ",") }
            var spec = HostSpec()
            if let h = hostMemory { spec.memory = .size(h) }
            if let r = overcommit { spec.memory = .overcommit(r) }
            spec.swap = swap
            for v in vmOverrides {
                let (id, o) = try HostSpec.parseVMOverride(v)
                spec.vms[id] = o
            }
            return (name, p, spec)
        } catch let e as PolicyError {
            throw ValidationError(e.description)
        } catch let e as ConfigError {
            throw ValidationError(e.description)
        }
    }
}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a trace through the model: sharing, faults, idle estimates, reclamation.",
        discussion: """
        Models the pmap, shadow page tables, content-based page sharing, idle-memory sampling, \
        the idle memory tax with min-funding revocation, admission control, the free-memory \
        states, ballooning and host paging of VMware ESX Server (docs/MODEL.md). Output keys are \
        documented in docs/REPORT.md. The same trace, policy and seed always give byte-identical \
        output. Memory pressure comes from --host-memory or --overcommit.
        """)

    @Argument(help: "Trace file (binary or text).") var file: String
    @OptionGroup var model: ModelOptions
    @Option(help: "Output format.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("Stop at this simulated time (30s, 15m, 2h).", valueName: "T")) var until: String?
    @Option(help: ArgumentHelp("Keep the clock (the scanner) running this long after the last record.", valueName: "D")) var settle: String?
    @Option(name: .shortAndLong, help: "Write the report to this file (atomically) instead of stdout.") var output: String?
    @Option(help: ArgumentHelp("Write one CSV row per VM per interval to this file (atomically).", valueName: "FILE.csv")) var timeline: String?
    @Option(help: ArgumentHelp("Timeline interval.", valueName: "D")) var timelineInterval: String = "10s"
    @Option(help: ArgumentHelp("Also write a self-contained HTML report (charts over time).", valueName: "FILE.html")) var html: String?
    @Flag(name: .shortAndLong, help: "No progress line on stderr.") var quiet = false

    func validate() throws {
        if let until, Units.parseDuration(until) == nil { throw ValidationError("--until: bad duration \"\(until)\"") }
        if let settle, Units.parseDuration(settle) == nil { throw ValidationError("--settle: bad duration \"\(settle)\"") }
        guard let iv = Units.parseDuration(timelineInterval), iv.rawValue > 0 else {
            throw ValidationError("--timeline-interval: bad duration \"\(timelineInterval)\"")
        }
    }

    func run() throws {
        let (_, policy, spec) = try model.resolve()
        let report: ReplayReport = try reportingErrors {
            let startsOff = try Replayer.vmsStartingOff(path: file)
            let reader = try TraceFile.open(file)
            let host: HostConfig
            do { host = try HostConfig.resolve(header: reader.header, policy: policy, spec: spec, startsOff: startsOff) } catch let e as ConfigError {
                printError("\(file): \(e.description)")
                throw ExitCode(2)
            }
            let engine: ReplayEngine
            do { engine = try ReplayEngine(host: host, policy: policy) } catch let e as ReplayError {
                printError("\(file): \(e.description)")
                throw ExitCode(1)
            }
            if timeline != nil || html != nil { engine.timelineInterval = Units.parseDuration(timelineInterval) }
            var replayer = Replayer()
            replayer.until = until.flatMap(Units.parseDuration)
            replayer.settle = settle.flatMap(Units.parseDuration) ?? .zero
            let progress = Progress(path: file, enabled: !quiet)
            replayer.progress = { progress.update($0) }
            do { try replayer.run(reader, engine: engine) } catch let e as Replayer.Failure {
                progress.clear()
                printError(e.description)
                throw ExitCode(1)
            }
            progress.clear()
            if let timeline {
                try AtomicOutput.write(TimelineRenderer.csv(engine.timeline, pageSize: host.pageSize), to: timeline)
            }
            let report = ReplayReport(trace: URL(fileURLWithPath: file).lastPathComponent, snapshot: engine.snapshot())
            if let html {
                let stats = try TraceStats.compute(path: file, interval: Units.parseDuration(timelineInterval)!)
                let run = RunResult(name: model.policy, report: report, timeline: engine.timeline, thresholds: engine.thresholds,
                                    machinePages: host.machinePages)
                try AtomicOutput.write(HTMLReport.page(results: [run], stats: stats, trace: report.trace), to: html)
            }
            return report
        }
        let text = format == .json ? report.json() : report.text()
        if let output {
            try reportingErrors { try AtomicOutput.write(text, to: output) }
        } else {
            writeStdout(text)
        }
    }
}

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Show policy knobs and presets.",
        subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print every knob with its value (defaults, or those of --policy/--set).")
        @OptionGroup var model: ModelOptions
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            let (name, p, _) = try model.resolve()
            writeStdout(format == .json ? PolicyRenderer.json(p) : PolicyRenderer.text(p, title: "policy \(name)"))
        }
    }
}

/// A progress line on stderr while replaying, only when stderr is a terminal.
final class Progress {
    let path: String
    let enabled: Bool
    let size: UInt64
    let start = DispatchTime.now().uptimeNanoseconds
    var last: UInt64 = 0
    var shown = false

    init(path: String, enabled: Bool) {
        self.path = path
        self.enabled = enabled && isatty(2) != 0
        size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
    }

    func update(_ r: any TraceReader) {
        guard enabled else { return }
        let t = DispatchTime.now().uptimeNanoseconds
        guard t - last > 200_000_000 else { return }
        last = t
        let secs = Double(t - start) / 1e9
        let frac = size > 0 ? min(1, Double(r.fileOffset) / Double(size)) : 0
        let rate = Double(r.recordsRead) / max(secs, 1e-9)
        let eta = frac > 0 ? secs * (1 - frac) / frac : 0
        let line = String(format: "\r%@: %llu records, %.0f%%, %.1f M records/s, ETA %.0f s ", (path as NSString).lastPathComponent,
                          r.recordsRead, frac * 100, rate / 1e6, eta)
        FileHandle.standardError.write(Data(line.utf8))
        shown = true
    }

    func clear() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
