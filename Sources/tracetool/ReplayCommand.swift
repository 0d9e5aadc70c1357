import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

/// The policy options: which policy, knob overrides and the seed.
struct PolicyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Policy: a preset, a JSON file of knob values, or key=value,… on top of esx.", valueName: "P"))
    var policy: String = "esx"
    @Option(name: .customLong("set"), help: ArgumentHelp("Set one knob (repeatable); see `tracetool policy show`.", valueName: "key=value"))
    var assignments: [String] = []
    @Option(help: "Seed for every random choice (overrides the policy's).") var seed: UInt64?

    /// Policy files this command reads (inputs no output may replace).
    var files: [String] { FileManager.default.fileExists(atPath: policy) && !policy.contains("=") ? [policy] : [] }

    /// The policy and its display name.
    func resolve() throws -> (name: String, policy: Policy) {
        do {
            var (name, p) = try PolicyKnobs.resolve(policy)
            for a in assignments { try PolicyKnobs.apply(assignments: a, to: &p) }
            if let seed { p.seed = seed }
            try p.validate()
            if !assignments.isEmpty { name += " + " + assignments.joined(separator: ",") }
            return (name, p)
        } catch let e as PolicyError {
            throw ValidationError(e.description)
        }
    }
}

/// The host and VM options of a command that runs the model.
struct HostOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Machine memory, e.g. 1GiB, 1.5G, 512M, 4096 pages (K/M/G/T are binary; a bare number is refused). Default: every VM at max + overheads + high threshold.", valueName: "SIZE"))
    var hostMemory: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Memory for VMs = sum of max / R (plus overheads).", valueName: "R")) var overcommit: Double?
    @Option(parsing: .unconditional, help: ArgumentHelp("Swap size, e.g. 2GiB or 100000 pages. Default: sum of (max - min).", valueName: "SIZE")) var swap: String?
    @Option(name: .customLong("vm"), help: ArgumentHelp("Per-VM settings (repeatable; settings for one VM merge; min is a size).", valueName: "ID:min=SIZE,shares=N,balloon=on|off"))
    var vmOverrides: [String] = []

    func validate() throws {
        if hostMemory != nil && overcommit != nil { throw ValidationError("give --host-memory or --overcommit, not both") }
        if let r = overcommit, !(r > 0 && r.isFinite) { throw ValidationError("--overcommit must be a positive number") }
        do {
            if let h = hostMemory { _ = try Units.parseSize(h) }
        } catch { throw ValidationError("--host-memory \(error.description)") }
        do {
            if let s = swap { _ = try Units.parseSize(s) }
        } catch { throw ValidationError("--swap \(error.description)") }
        _ = try spec()
    }

    func spec() throws -> HostSpec {
        var spec = HostSpec()
        if let h = hostMemory { spec.memory = .size(h) }
        if let r = overcommit { spec.memory = .overcommit(r) }
        spec.swap = swap
        do {
            for v in vmOverrides { try spec.addVMOverride(v) }
        } catch { throw ValidationError(error.description) }
        return spec
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
    @OptionGroup var model: PolicyOptions
    @OptionGroup var hostOptions: HostOptions
    @OptionGroup var limits: LimitOptions
    @Option(help: "Output format.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("Stop at this simulated time (30s, 15m, 2h).", valueName: "T")) var until: String?
    @Option(help: ArgumentHelp("Keep the clock (the scanner) running this long after the last record.", valueName: "D")) var settle: String?
    @Option(name: .shortAndLong, help: "Write the report to this file (atomically; a regular file, never an input) instead of stdout (-).") var output: String?
    @Option(help: ArgumentHelp("Write one CSV row per VM per interval to this file (atomically).", valueName: "FILE.csv")) var timeline: String?
    @Option(help: ArgumentHelp("Timeline and HTML chart interval (with --timeline or --html).", valueName: "D")) var timelineInterval: String?
    @Option(help: ArgumentHelp("Also write a self-contained HTML report (charts over time).", valueName: "FILE.html")) var html: String?
    @Flag(name: .shortAndLong, help: "No progress line on stderr.") var quiet = false

    func validate() throws {
        if let until, Units.parseDuration(until) == nil { throw ValidationError("--until: bad duration \"\(until)\"") }
        if let settle, Units.parseDuration(settle) == nil { throw ValidationError("--settle: bad duration \"\(settle)\"") }
        if let timelineInterval {
            guard timeline != nil || html != nil else { throw ValidationError("--timeline-interval needs --timeline or --html") }
            guard let iv = Units.parseDuration(timelineInterval), iv.rawValue >= 1_000_000 else {
                throw ValidationError("--timeline-interval: \"\(timelineInterval)\" is not a duration of at least 1s (the model moves once a simulated second)")
            }
        }
    }

    var interval: Micros { timelineInterval.flatMap(Units.parseDuration) ?? Micros.seconds(10) }

    func run() throws {
        let (_, policy) = try model.resolve()
        let spec = try hostOptions.spec()
        try checkOutputs([output, timeline, html], inputs: [file] + model.files)
        let report: ReplayReport = try reportingErrors {
            let startsOff = try Replayer.vmsStartingOff(path: file)
            let reader = try TraceFile.open(file)
            let host: HostConfig
            do { host = try HostConfig.resolve(header: reader.header, policy: policy, spec: spec, startsOff: startsOff) } catch let e as ConfigError {
                printError("\(file): \(e.description)")
                throw ExitCode(e.inTrace ? ExitStatus.failure : ExitStatus.usage)
            }
            let engine: ReplayEngine
            do { engine = try ReplayEngine(host: host, policy: policy) } catch let e as ReplayError {
                printError("\(file): \(e.description)")
                throw ExitCode(ExitStatus.failure)
            }
            if timeline != nil || html != nil { engine.timelineInterval = interval }
            var replayer = Replayer()
            replayer.until = until.flatMap(Units.parseDuration)
            replayer.settle = settle.flatMap(Units.parseDuration) ?? .zero
            let progress = Progress(path: file, enabled: !quiet)
            replayer.progress = { progress.update($0) }
            engine.spanProgress = { progress.span($0, $1) }
            do { try replayer.run(reader, engine: engine) } catch let e as Replayer.Failure {
                progress.clear()
                printError(e.description)
                throw ExitCode(ExitStatus.failure)
            }
            progress.clear()
            if let timeline {
                try AtomicOutput.write(TimelineRenderer.csv(engine.timeline, pageSize: host.pageSize), to: timeline)
            }
            let report = ReplayReport(trace: URL(fileURLWithPath: file).lastPathComponent, snapshot: engine.snapshot())
            warnRefusals(report, file: file)
            if let html {
                let stats = try TraceStats.compute(path: file, interval: interval)
                let run = RunResult(name: model.policy, report: report, timeline: engine.timeline, thresholds: engine.thresholds,
                                    machinePages: host.machinePages)
                try AtomicOutput.write(HTMLReport.page(results: [run], stats: stats, trace: report.trace), to: html)
            }
            return report
        }
        try emit(format == .json ? report.json() : report.text(), to: output)
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
        @OptionGroup var model: PolicyOptions
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            let (name, p) = try model.resolve()
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

    /// A span of simulated time the model steps through second by second.
    func span(_ now: Micros, _ end: Micros) {
        guard enabled else { return }
        let t = DispatchTime.now().uptimeNanoseconds
        guard t - last > 200_000_000 else { return }
        last = t
        let line = String(format: "\r%@: simulating %.0f s … %.0f s (%.0f%% of this span; --until or a shorter --settle bounds it) ",
                          (path as NSString).lastPathComponent, now.seconds, end.seconds,
                          100 * now.seconds / max(end.seconds, 1e-9))
        FileHandle.standardError.write(Data(line.utf8))
        shown = true
    }

    func clear() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
