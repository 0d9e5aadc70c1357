import Analyzer
import ArgumentParser
import Replay
import TraceFormat

struct StatsCommand: ParsableCommand, LimitedCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "What the trace itself says, without the model.",
        discussion: """
            Per VM: pages touched, the true working set per interval, zero pages, distinct contents, \
            duplicates within the VM; overall: duplicates across VMs, the oracle sharing bound over time \
            (pages with known content − distinct contents: what an instant, perfect scanner would \
            save) and write churn (content changes per interval). A page's content is the last the \
            trace reported.
            """)

    @Argument(help: "Trace file (binary or text; - reads a binary trace from stdin).") var file: String
    @Option(help: ArgumentHelp("Interval length.", valueName: "D")) var interval: String = "10s"
    @Option(help: "Output format.") var format: OutputFormat = .text
    @OptionGroup var limits: LimitOptions
    @Option(
        name: .shortAndLong,
        help: "Write the output to this file (atomically; a regular file, never an input) instead of stdout (-).")
    var output: String?

    func validate() throws {
        guard let d = try durationOption("--interval", interval), d.rawValue > 0 else {
            throw ValidationError("--interval must be longer than 0")
        }
    }

    func run() throws {
        try checkOutputs([output], inputs: [file])
        let s = try TraceStats.compute(path: file, interval: Units.parseDuration(interval)!)
        try emitReport(
            format == .json ? TraceStatsRenderer.json(s) : TraceStatsRenderer.text(s),
            as: format == .json ? .json : .text,
            to: output)
    }
}
