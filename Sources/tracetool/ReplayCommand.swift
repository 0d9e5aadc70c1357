import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct ReplayCommand: ParsableCommand, LimitedCommand {
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

    @Argument(help: "Trace file (binary or text; - reads a binary trace from stdin).") var file: String
    @OptionGroup var model: PolicyOptions
    @OptionGroup var hostOptions: HostOptions
    @OptionGroup var limits: LimitOptions
    @Option(help: "Output format.") var format: OutputFormat = .text
    @OptionGroup var span: RunOptions
    @Option(
        name: .shortAndLong,
        help: "Write the report to this file (atomically; a regular file, never an input) instead of stdout (-).")
    var output: String?
    @Option(
        help: ArgumentHelp("Write one CSV row per VM per interval to this file (atomically).", valueName: "FILE.csv"))
    var timeline: String?
    @Option(help: ArgumentHelp("Also write a self-contained HTML report (charts over time).", valueName: "FILE.html"))
    var html: String?
    @Flag(name: .shortAndLong, help: "No progress line on stderr.") var quiet = false

    func validate() throws {
        try span.check(timelineWanted: timeline != nil || html != nil)
    }

    func run() throws {
        let (policyName, policy) = try model.resolve()
        let spec = try hostOptions.spec()
        try checkOutputs([output, timeline, html], inputs: [file] + model.files)
        if html != nil { try refuseStdin([file], "--html (the replay, then stats for its charts)") }
        var runner = ReplayRunner(path: file, runs: [PolicyRun(name: policyName, policy: policy, spec: spec)])
        span.configure(&runner, timeline: timeline != nil || html != nil)
        let progress = Progress(path: file, enabled: !quiet)
        runner.progress = { progress.update($0) }
        runner.spanProgress = { progress.span($0, $1) }
        defer { progress.clear() }
        let run = try runner.run()[0]
        progress.clear()
        let report = run.report
        if let timeline {
            try AtomicOutput.write(
                TimelineRenderer.csv(
                    run.timeline, pageSize: report.host.pageSizeBytes,
                    names: Dictionary(uniqueKeysWithValues: report.vms.map { ($0.id, $0.name) })), to: timeline)
        }
        warnRefusals(report, file: file)
        if let html {
            let stats = try TraceStats.compute(path: file, interval: span.interval)
            try AtomicOutput.write(
                BuildStamp.stamp(HTMLReport.page(results: [run], stats: stats, trace: report.trace), as: .html),
                to: html)
        }
        try emitReport(
            format == .json ? ReplayReportRenderer.json(report) : ReplayReportRenderer.text(report),
            as: format == .json ? .json : .text, to: output)
    }
}
