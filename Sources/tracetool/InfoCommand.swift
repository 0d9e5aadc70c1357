import Analyzer
import ArgumentParser
import Foundation
import Scenarios
import TraceFormat

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a trace's header, VMs, capture facts and totals.",
        discussion: "Binary traces with a seek table are summarised without decoding the body.")

    @Argument(help: "Trace file (binary or text; - reads a binary trace from stdin).") var file: String
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let s = try TraceFile.summary(file)
        let file = TraceFile.shownPath(file)
        switch format {
        case .text:
            writeStdout(TraceInfoRenderer.text(path: file, header: s.header, footer: s.footer, encoding: s.encoding))
            // What the commands that plan by declared sizes may use here, and why.
            writeStdout(
                "memory budget here: \(MemoryBudget.limit.summary) (the default --max-memory of replay, compare, plan and stats)\n"
            )
        case .json:
            writeStdout(
                try TraceInfoRenderer.json(path: file, header: s.header, footer: s.footer, encoding: s.encoding))
        }
    }
}
