import Analyzer
import ArgumentParser
import Capture
import Foundation
import Scenarios
import TraceFormat

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert between binary and text traces, or import a valgrind lackey trace or a guest memory dump.",
        discussion: """
            The output is text when OUT ends in .txt or .csv, binary otherwise. Text output is the \
            canonical form. With --from lackey, IN is the output of \
            `valgrind --tool=lackey --trace-mem=yes PROGRAM` (one VM; each distinct virtual page gets a \
            guest-physical page in order of first use; 1 µs per access). --vms keeps only the listed VMs \
            (ids unchanged), e.g. to replay 1, 2, 3 … of N identical VMs. With --from elf-dump, IN is a guest \
            memory dump in ELF form (QEMU's `dump-guest-memory` without paging, `virsh dump --memory-only \
            --format elf`): one VM, one content snapshot at time 0 (non-zero pages written and hashed, zero pages \
            as zero runs; docs/FLEET.md). OUT is written atomically.
            """)

    enum From: String, ExpressibleByArgument, CaseIterable {
        case trace, lackey
        case elfDump = "elf-dump"
    }

    @Argument(help: "Input file.") var input: String
    @Argument(help: "Output file.") var output: String
    @Option(help: "What IN is.") var from: From = .trace
    @Option(help: "zstd compression level for binary output (1-19).") var level: Int32 = 3
    @Option(help: "With --from lackey: simulated microseconds per access.") var microsPerAccess: UInt64 = 1
    @Option(help: "With --from elf-dump: the VM's name (default: the dump's file name up to its first dot).")
    var name: String?
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
        if vms != nil, from != .trace { throw ValidationError("--vms applies to --from trace only") }
        if let n = name {
            guard from == .elfDump else { throw ValidationError("--name applies to --from elf-dump only") }
            guard !n.isEmpty, !n.contains(where: { $0 == "," || $0.isNewline }) else {
                throw ValidationError("--name must be non-empty, without commas or line breaks")
            }
        }
        if let v = vms, v.isEmpty { throw ValidationError("--vms needs at least one VM id") }
    }

    func run() throws {
        try checkOutputs([output], inputs: [input], stdout: false)
        let footer: TraceFooter
        switch from {
        case .trace:
            footer = try TraceSinks.copy(from: try TraceFile.open(input), to: output, level: level, onlyVMs: vms)
        case .lackey:
            var imp = LackeyImporter()
            imp.microsPerAccess = microsPerAccess
            footer = try imp.importFile(input, to: output, level: level)
        case .elfDump:
            footer = try ElfDumpImporter(name: name).importFile(input, to: output, level: level)
        }
        writeStdout("\(output): \(footer.records) records\n")
    }
}
