import Analyzer
import Replay
import ArgumentParser
import Foundation
import Scenarios
import TraceFormat

struct GenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen",
        abstract: "Generate a deterministic synthetic trace.",
        discussion: "Scenarios:\n" + ScenarioRegistry.all.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
            + "\n  fleet: --vms VMs made from the VMs of the --template traces (captured ones), one trace per VM in the folder OUT, each with its own template, time shift and length (at most --duration) and --private-fraction of its contents made its own (docs/FLEET.md)"
            + "\nThe same scenario, options and seed always give the same file.")

    @Argument(help: "Scenario name (see above).") var scenario: String?
    @Argument(help: "Output file (.txt/.csv for text, else binary; - writes a binary trace to stdout, for a pipe).")
    var output: String?
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Number of VMs.") var vms: Int = 4
    @Option(help: "Pages per VM.") var pages: UInt64 = 16_384
    @Option(
        help:
            "Records to generate (scenarios that are record-driven); at most what the output's file system can hold at 1 byte each."
    ) var records: UInt64 = 1_000_000
    @Option(help: ArgumentHelp("Simulated time the trace spans (\(Units.durationForms)).", valueName: "D"))
    var duration: String = "60s"
    @Option(help: "Share of accesses that are writes.") var writeFraction: Double = 0.3
    @Option(help: "Share of records that are content records.") var contentFraction: Double = 0.05
    @Option(help: "Share of records (or pages) that are zero.") var zeroFraction: Double = 0.01
    @Option(help: "Share of accesses that are runs of 2-16 pages.") var runFraction: Double = 0.05
    @Option(help: "Share of contents drawn from a pool common to all VMs.") var commonContent: Double = 0.3
    @Flag(help: "Emit accesses with address spaces and virtual pages.") var virtualAddresses = false
    @Option(help: "zstd compression level for binary output (1-19).") var level: Int32 = 3
    @Option(help: ArgumentHelp("fleet: a template trace (repeatable).", valueName: "TRACE")) var template: [String] = []
    @Option(help: "fleet: share of each VM's distinct contents made private to it.") var privateFraction: Double = 0.1

    static let fleetOptions: Set<String> = ["vms", "seed", "duration", "template", "private-fraction"]

    static var scenarioNames: String { ScenarioRegistry.all.map { $0.name }.joined(separator: ", ") }

    func validate() throws {
        guard let scenario else {
            throw ValidationError(
                "gen needs a scenario and an output file: tracetool gen SCENARIO OUT (scenarios: \(Self.scenarioNames))"
            )
        }
        if scenario == "fleet" {
            try validateFleet()
            return
        }
        guard template.isEmpty, !CommandLineScan.given.contains("--private-fraction") else {
            throw ValidationError("--template and --private-fraction are options of gen fleet")
        }
        guard ScenarioRegistry.named(scenario) != nil else {
            throw ValidationError(
                "unknown scenario \"\(scenario)\"; tracetool gen SCENARIO OUT, where SCENARIO is one of \(Self.scenarioNames)"
            )
        }
        guard output != nil else {
            throw ValidationError("gen \(scenario) needs an output file: tracetool gen \(scenario) OUT")
        }
        guard vms >= 1, vms <= TraceLimits.maxVMs else {
            throw ValidationError("--vms must be 1...\(TraceLimits.maxVMs)")
        }
        guard pages >= 1, pages <= TraceLimits.maxPagesPerVM else {
            throw ValidationError("--pages must be 1...\(TraceLimits.maxPagesPerVM)")
        }
        for (n, v) in [
            ("write-fraction", writeFraction), ("content-fraction", contentFraction), ("zero-fraction", zeroFraction),
            ("run-fraction", runFraction), ("common-content", commonContent),
        ] where !(0...1).contains(v) {
            throw ValidationError("--\(n) must be between 0 and 1")
        }
        guard let d = try durationOption("--duration", duration), d.seconds < 1e12 else {
            throw ValidationError("--duration is too long")
        }
        _ = d
        guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19") }
        let sc = ScenarioRegistry.named(scenario)!
        let shared: Set<String> = ["level", "help"]
        for given in CommandLineScan.given.sorted() {
            let name = String(given.dropFirst(2))
            guard shared.contains(name) || sc.options.contains(name) else {
                throw ValidationError(
                    "gen \(scenario) does not use --\(name) (it reads: \(sc.options.sorted().map { "--" + $0 }.joined(separator: ", ")))"
                )
            }
        }
    }

    func validateFleet() throws {
        guard output != nil else {
            throw ValidationError("gen fleet needs an output folder: tracetool gen fleet OUT --template TRACE …")
        }
        guard !template.isEmpty else {
            throw ValidationError(
                "gen fleet needs at least one --template trace (e.g. --template traces/capture-4vm.mtr.zst)")
        }
        guard vms >= 1, vms <= 100_000 else { throw ValidationError("--vms must be 1...100000 for a fleet") }
        guard (0...1).contains(privateFraction) else {
            throw ValidationError("--private-fraction must be between 0 and 1")
        }
        guard let d = try durationOption("--duration", duration), d.rawValue > 0 else {
            throw ValidationError("--duration must be longer than 0")
        }
        guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19") }
        for given in CommandLineScan.given.sorted() {
            let name = String(given.dropFirst(2))
            guard name == "level" || name == "help" || Self.fleetOptions.contains(name) else {
                throw ValidationError(
                    "gen fleet does not use --\(name) (it reads: \(Self.fleetOptions.sorted().map { "--" + $0 }.joined(separator: ", ")))"
                )
            }
        }
    }

    func runFleet(_ out: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CommandFailure.usage("\(out): exists and is not a folder") }
            guard (try? FileManager.default.contentsOfDirectory(atPath: out))?.isEmpty == true else {
                throw CommandFailure.usage("\(out): not empty; gen fleet writes into a new or empty folder")
            }
        } else {
            do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                throw CommandFailure.failed("\(out): cannot make the folder: \(error.localizedDescription)")
            }
        }
        var g = FleetGenerator(
            templates: template, vms: vms, seed: seed, length: Units.parseDuration(duration)!,
            privateFraction: privateFraction)
        g.level = level
        let (_, ts) = try g.readTemplates()
        let members = g.members(ts)
        var records: UInt64 = 0
        var list = "vm\tfile\tname\ttemplate_trace\ttemplate_vm\ttemplate_name\tshift_s\tlength_s\n"
        for m in members {
            let t = ts[m.template]
            records += try g.write(m, template: t, to: out + "/" + m.file).records
            list +=
                "\(m.index)\t\(m.file)\t\(m.name)\t\(t.trace)\t\(t.vm.id)\t\(t.vm.name)\t\(String(format: "%.3f", Double(m.shiftMicros) / 1e6))\t\(String(format: "%.3f", Double(m.lengthMicros) / 1e6))\n"
        }
        try AtomicOutput.write(list, to: out + "/fleet.tsv")
        writeStdout(
            "\(out): \(members.count) VM traces from \(ts.count) template VMs, \(records) records; fleet.tsv lists them\n"
        )
    }

    func run() throws {
        let scenario = self.scenario!, output = self.output!
        // The fleet's folder is checked by runFleet (new or empty, so no template is in it).
        if scenario == "fleet" {
            guard output != TraceFile.stdinPath else {
                throw CommandFailure.usage("-: gen fleet writes a folder of traces, not stdout: give a folder name")
            }
            try refuseStdin(template, "gen fleet (each --template)")
            return try runFleet(output)
        }
        let toStdout = output == TraceFile.stdinPath
        let duration = Units.parseDuration(self.duration)!.seconds
        try checkOutputs([output], inputs: [])
        // A record takes a few bytes compressed; refuse what cannot fit on the target's file
        // system before writing (at 1 byte per record, a lower bound).
        let dir = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var fs = statvfs()
        var planned = GenOptions()
        planned.vms = vms; planned.pagesPerVM = pages; planned.records = records; planned.duration = duration
        let n = ScenarioRegistry.named(scenario)!.plannedRecords(planned)
        if !toStdout, statvfs(dir.isEmpty ? "." : dir, &fs) == 0 {
            let free = Double(fs.f_bavail) * Double(fs.f_frsize)
            guard n <= free else {
                throw CommandFailure.failed(
                    String(
                        format:
                            "%@: about %.3g records need at least %.3g GiB and its file system has %.1f GiB free; ask for fewer --records, --pages, --vms or a shorter --duration",
                        output, n, n / 1_073_741_824, free / 1_073_741_824))
            }
        }
        // `identical` lays out one byte per page before writing.
        if scenario == IdenticalScenario.name,
            let problem = MemoryBudget.problem(Double(pages), for: "gen identical with \(pages) pages per VM")
        {
            throw CommandFailure.failed("\(output): \(problem)")
        }
        var o = GenOptions()
        o.seed = seed; o.vms = vms; o.pagesPerVM = pages; o.records = records; o.duration = duration
        o.writeFraction = writeFraction; o.contentFraction = contentFraction; o.zeroFraction = zeroFraction
        o.runFraction = runFraction; o.commonContent = commonContent; o.virtualAddresses = virtualAddresses
        let sc = ScenarioRegistry.named(scenario)!
        let footer = try ScenarioRegistry.write(sc, options: o, to: output, level: level)
        // With the trace on stdout, the summary goes to stderr.
        let line = "\(toStdout ? "stdout" : output): \(footer.records) records\n"
        if toStdout { FileHandle.standardError.write(Data(line.utf8)) } else { writeStdout(line) }
    }
}
