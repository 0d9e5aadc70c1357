import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

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
        _ = try durationOption("--until", until)
        _ = try durationOption("--settle", settle)
        if timelineInterval != nil {
            guard timeline != nil || html != nil else { throw ValidationError("--timeline-interval needs --timeline or --html") }
            _ = try timelineIntervalOption(timelineInterval)
        }
    }

    var interval: Micros { timelineInterval.flatMap(Units.parseDuration) ?? Micros.seconds(10) }

    func run() throws {
        let (policyName, policy) = try model.resolve()
        let spec = try hostOptions.spec()
        try checkOutputs([output, timeline, html], inputs: [file] + model.files)
        let report: ReplayReport = try reportingErrors {
            let startsOff = try Replayer.vmsStartingOff(path: file)
            let reader = try TraceFile.open(file)
            let host: HostConfig
            do { host = try HostConfig.resolve(header: reader.header, policy: policy, spec: spec, startsOff: startsOff) } catch let e as ConfigError {
                printError("\(file): \(e.description)")
                throw ExitCode(e.exitStatus)
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
                try AtomicOutput.write(TimelineRenderer.csv(engine.timeline, pageSize: host.pageSize,
                                                            names: Dictionary(uniqueKeysWithValues: host.vms.map { ($0.id, $0.name) })), to: timeline)
            }
            var report = ReplayReport(trace: URL(fileURLWithPath: file).lastPathComponent, policyName: policyName, snapshot: engine.snapshot())
            if reader.header.capture.accesses == "interval-writes" { report.readsRecorded = false }
            warnRefusals(report, file: file)
            if let html {
                let stats = try TraceStats.compute(path: file, interval: interval)
                var run = RunResult(name: policyName, report: report, timeline: engine.timeline, thresholds: engine.thresholds,
                                    machinePages: host.machinePages)
                run.stateChanges = engine.stateChanges
                try AtomicOutput.write(HTMLReport.page(results: [run], stats: stats, trace: report.trace), to: html)
            }
            return report
        }
        try emit(format == .json ? ReplayReportRenderer.json(report) : ReplayReportRenderer.text(report), to: output)
    }
}
