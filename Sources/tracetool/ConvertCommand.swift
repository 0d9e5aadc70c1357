import Analyzer
import ArgumentParser
import Foundation
import Scenarios
import TraceFormat

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert between binary and text traces, or import a valgrind lackey trace.",
        discussion: """
            The output is text when OUT ends in .txt or .csv, binary otherwise. Text output is the \
            canonical form. With --from lackey, IN is the output of \
            `valgrind --tool=lackey --trace-mem=yes PROGRAM` (one VM; each distinct virtual page gets a \
            guest-physical page in order of first use; 1 µs per access). --vms keeps only the listed VMs \
            (ids unchanged), e.g. to replay 1, 2, 3 … of N identical VMs. OUT is written atomically.
            """)

    enum From: String, ExpressibleByArgument, CaseIterable { case trace, lackey }

    @Argument(help: "Input file.") var input: String
    @Argument(help: "Output file.") var output: String
    @Option(help: "What IN is.") var from: From = .trace
    @Option(help: "zstd compression level for binary output (1-19).") var level: Int32 = 3
    @Option(help: "With --from lackey: simulated microseconds per access.") var microsPerAccess: UInt64 = 1
    @Option(
        help: "Keep only these VM ids (comma-separated).",
        transform: { s in
            try s.split(separator: ",").map { p in
                guard let v = UInt32(p.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--vms takes VM ids, e.g. 0,1,2")
                }
                return v
            }
        }) var vms: [UInt32]?

    func validate() throws {
        guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19") }
        if vms != nil, from == .lackey { throw ValidationError("--vms applies to --from trace only") }
        if let v = vms, v.isEmpty { throw ValidationError("--vms needs at least one VM id") }
    }

    func run() throws {
        try checkOutputs([output], inputs: [input])
        let footer: TraceFooter
        switch from {
        case .trace:
            footer = try TraceSinks.copy(from: try TraceFile.open(input), to: output, level: level, onlyVMs: vms)
        case .lackey:
            var imp = LackeyImporter()
            imp.microsPerAccess = microsPerAccess
            footer = try imp.importFile(input, to: output, level: level)
        }
        writeStdout("\(output): \(footer.records) records\n")
    }
}
