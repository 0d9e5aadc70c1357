import Analyzer
import ArgumentParser
import Foundation
import Scenarios
import TraceFormat

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Decode a whole trace and check it.",
        discussion: """
            Checks the framing and zstd checksums, the header, every record (known VM, PPN within the \
            VM's pages, time never going back, well-formed fields) and the footer's totals. Exit 0 if \
            valid; otherwise exit 1 with one line naming the file, record index, byte offset and problem.
            """)

    @Argument(help: "Trace file (binary or text; - reads a binary trace from stdin).") var file: String
    @Flag(name: .shortAndLong, help: "Print nothing when the trace is valid.") var quiet = false

    func run() throws {
        let (_, footer) = try TraceFile.validate(file)
        let file = TraceFile.shownPath(file)
        if !quiet { writeStdout("\(file): valid, \(footer.records) records\n") }
    }
}
