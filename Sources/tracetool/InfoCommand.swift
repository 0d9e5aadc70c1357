import Analyzer
import ArgumentParser
import Foundation
import TraceFormat

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a trace's header, VMs, capture facts and totals.",
        discussion: "Binary traces with a seek table are summarised without decoding the body.")

    @Argument(help: "Trace file (binary or text).") var file: String
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let s = try reportingErrors { try TraceFile.summary(file) }
        switch format {
        case .text: writeStdout(TraceInfoRenderer.text(path: file, header: s.header, footer: s.footer, encoding: s.encoding))
        case .json: writeStdout(try TraceInfoRenderer.json(path: file, header: s.header, footer: s.footer, encoding: s.encoding))
        }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Decode a whole trace and check it.",
        discussion: """
        Checks the framing and zstd checksums, the header, every record (known VM, PPN within the \
        VM's pages, time never going back, well-formed fields) and the footer's totals. Exit 0 if \
        valid; otherwise exit 1 with one line naming the file, record index, byte offset and problem.
        """)

    @Argument(help: "Trace file (binary or text).") var file: String
    @Flag(name: .shortAndLong, help: "Print nothing when the trace is valid.") var quiet = false

    func run() throws {
        let (_, footer) = try reportingErrors { try TraceFile.validate(file) }
        if !quiet { writeStdout("\(file): valid, \(footer.records) records\n") }
    }
}

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
    @Option(help: "Keep only these VM ids (comma-separated).", transform: { s in
        try s.split(separator: ",").map { p in
            guard let v = UInt32(p.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--vms takes VM ids, e.g. 0,1,2") }
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
        let footer: TraceFooter = try reportingErrors {
            switch from {
            case .trace:
                let reader = try TraceFile.open(input)
                return try TraceSinks.copy(from: reader, to: output, level: level, onlyVMs: vms)
            case .lackey:
                var imp = LackeyImporter()
                imp.microsPerAccess = microsPerAccess
                return try imp.importFile(input, to: output, level: level)
            }
        }
        writeStdout("\(output): \(footer.records) records\n")
    }
}

struct GenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen",
        abstract: "Generate a deterministic synthetic trace.",
        discussion: "Scenarios:\n" + ScenarioRegistry.all.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
            + "\nThe same scenario, options and seed always give the same file.")

    @Argument(help: "Scenario name.") var scenario: String
    @Argument(help: "Output file (.txt/.csv for text, else binary).") var output: String
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Number of VMs.") var vms: Int = 4
    @Option(help: "Pages per VM.") var pages: UInt64 = 16_384
    @Option(help: "Records to generate (scenarios that are record-driven); at most what the output's file system can hold at 1 byte each.") var records: UInt64 = 1_000_000
    @Option(help: "Simulated seconds the trace spans.") var duration: Double = 60
    @Option(help: "Share of accesses that are writes.") var writeFraction: Double = 0.3
    @Option(help: "Share of records that are content records.") var contentFraction: Double = 0.05
    @Option(help: "Share of records (or pages) that are zero.") var zeroFraction: Double = 0.01
    @Option(help: "Share of accesses that are runs of 2-16 pages.") var runFraction: Double = 0.05
    @Option(help: "Share of contents drawn from a pool common to all VMs.") var commonContent: Double = 0.3
    @Flag(help: "Emit accesses with address spaces and virtual pages.") var virtualAddresses = false
    @Option(help: "zstd compression level for binary output (1-19).") var level: Int32 = 3

    func validate() throws {
        guard ScenarioRegistry.named(scenario) != nil else {
            throw ValidationError("unknown scenario \"\(scenario)\"; known: \(ScenarioRegistry.all.map { $0.name }.joined(separator: ", "))")
        }
        guard vms >= 1, vms <= TraceLimits.maxVMs else { throw ValidationError("--vms must be 1...\(TraceLimits.maxVMs)") }
        guard pages >= 1, pages <= TraceLimits.maxPagesPerVM else { throw ValidationError("--pages must be 1...\(TraceLimits.maxPagesPerVM)") }
        for (n, v) in [("write-fraction", writeFraction), ("content-fraction", contentFraction), ("zero-fraction", zeroFraction),
                       ("run-fraction", runFraction), ("common-content", commonContent)] where !(0...1).contains(v) {
            throw ValidationError("--\(n) must be between 0 and 1")
        }
        guard duration >= 0, duration < 1e12 else { throw ValidationError("--duration must be non-negative") }
        guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19") }
        let sc = ScenarioRegistry.named(scenario)!
        let shared: Set<String> = ["level", "help"]
        for given in CommandLineScan.given.sorted() {
            let name = String(given.dropFirst(2))
            guard shared.contains(name) || sc.options.contains(name) else {
                throw ValidationError("gen \(scenario) does not use --\(name) (it reads: \(sc.options.sorted().map { "--" + $0 }.joined(separator: ", ")))")
            }
        }
    }

    func run() throws {
        try checkOutputs([output], inputs: [])
        // A record takes a few bytes compressed; refuse what cannot fit on the target's file
        // system before writing (at 1 byte per record, a lower bound).
        let dir = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var fs = statvfs()
        var planned = GenOptions()
        planned.vms = vms; planned.pagesPerVM = pages; planned.records = records; planned.duration = duration
        let n = ScenarioRegistry.named(scenario)!.plannedRecords(planned)
        if statvfs(dir.isEmpty ? "." : dir, &fs) == 0 {
            let free = Double(fs.f_bavail) * Double(fs.f_frsize)
            guard n <= free else {
                printError(String(format: "%@: about %.3g records need at least %.3g GiB and its file system has %.1f GiB free; ask for fewer --records, --pages, --vms or a shorter --duration",
                                  output, n, n / 1_073_741_824, free / 1_073_741_824))
                throw ExitCode(ExitStatus.failure)
            }
        }
        // `identical` lays out one byte per page before writing.
        if scenario == IdenticalScenario.name, let problem = MemoryBudget.problem(Double(pages), for: "gen identical with \(pages) pages per VM") {
            printError("\(output): \(problem)")
            throw ExitCode(ExitStatus.failure)
        }
        var o = GenOptions()
        o.seed = seed; o.vms = vms; o.pagesPerVM = pages; o.records = records; o.duration = duration
        o.writeFraction = writeFraction; o.contentFraction = contentFraction; o.zeroFraction = zeroFraction
        o.runFraction = runFraction; o.commonContent = commonContent; o.virtualAddresses = virtualAddresses
        let sc = ScenarioRegistry.named(scenario)!
        let footer = try reportingErrors { try ScenarioRegistry.write(sc, options: o, to: output, level: level) }
        writeStdout("\(output): \(footer.records) records\n")
    }
}
