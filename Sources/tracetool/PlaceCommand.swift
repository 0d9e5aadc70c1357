import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct PlaceCommand: ParsableCommand, LimitedCommand {
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Assign VMs to hosts, sharing-oblivious and sharing-aware, and replay every host.",
        discussion: """
            INPUTS are traces (every VM in them) or fingerprint files from `tracetool fingerprint`. Two \
            placements: first-fit decreasing by held memory (the baseline), and sharing-aware (each VM \
            where it adds the least footprint by the fingerprints, then a local search that empties hosts \
            and moves VMs). A host holds VMs whose estimated footprint fits in its memory less the \
            policy's high threshold and per-VM overhead. Each host's VMs are then merged into one trace \
            (DIR/hosts), the hosts replayed as a study (DIR/study.json, run here like `study local`; \
            --no-replay writes it for a cluster) under the policy, and the report compares the two. \
            Traces named in fingerprint files must be readable to replay. See docs/FLEET.md.
            """)

    @Argument(help: "Traces, folders of traces, or fingerprint files.") var inputs: [String]
    @Option(name: .shortAndLong, help: ArgumentHelp("Output folder (made if missing).", valueName: "DIR")) var output:
        String
    @Option(
        help: ArgumentHelp("Memory of each host, e.g. 4GiB or 1048576 pages (K/M/G/T are binary).", valueName: "SIZE"))
    var hostMemory: String
    @Option(help: ArgumentHelp("Hosts available (default: as many as needed).", valueName: "N")) var hosts: Int?
    @OptionGroup var policy: PolicyOptions
    @Option(
        help: ArgumentHelp(
            "Settle time of each host's replay (default: long enough for the scan to visit every page of the busiest host once).",
            valueName: "D"))
    var settle: String?
    @Option(
        help: ArgumentHelp(
            "When VMs start in a host's replay: staggered (in the order placed, each once the scan has visited every page of the one before) or together (all at 0).",
            valueName: "MODE"))
    var arrival: PlaceRun.Arrival = .staggered
    @Option(help: ArgumentHelp("With traces: the moment to fingerprint (default: each trace's end).", valueName: "T"))
    var at: String?
    @Option(help: "Sketch size for traces (see `tracetool fingerprint`).") var k: Int = ContentSketch.defaultK
    @Flag(help: "Place and write the host traces and study.json, but do not replay.") var noReplay = false
    @Option(help: "Worker threads for the replays.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Output format of the report (also written to DIR/report.txt or report.json).")
    var format: OutputFormat = .text
    @Flag(name: .shortAndLong, help: "No progress lines on stderr.") var quiet = false
    @OptionGroup var limits: LimitOptions

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one trace or fingerprint file") }
        do { _ = try Units.parseSize(hostMemory) } catch { throw ValidationError("--host-memory \(error.description)") }
        if let h = hosts, h < 1 || h > 1_000_000 { throw ValidationError("--hosts must be between 1 and 1000000") }
        guard ContentSketch.kRange.contains(k) else {
            throw ValidationError(
                "--k must be between \(ContentSketch.kRange.lowerBound) and \(ContentSketch.kRange.upperBound)")
        }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if let s = settle { _ = try durationOption("--settle", s) }
        if let a = at { _ = try durationOption("--at", a) }
    }

    func run() throws {
        let (_, p) = try policy.resolve()
        try refuseStdin(inputs, "place (fingerprints, then merged hosts)")
        let fleet = try FleetInputs.fingerprints(
            inputs, at: try at.flatMap { try durationOption("--at", $0) }, k: k, atGiven: at != nil)
        try checkOutputFolder(output, inputs: try FleetInputs.expand(inputs) + fleet.vms.map(\.trace) + policy.files)
        // Every host's trace is merged from the VMs' traces: they must open, before placing.
        var seen = Set<String>()
        for t in fleet.vms.map(\.trace) where seen.insert(t).inserted {
            do { _ = try TraceFile.open(t).header } catch {
                throw CommandFailure.failed(
                    "\(error.description) (a trace the fingerprints name; place merges each host from them)")
            }
        }
        let pageSize = UInt64(fleet.vms[0].pageSize)
        let hostPages = try Units.parseSize(hostMemory).pages(pageSize: pageSize)
        let settleTime = try settle.flatMap { try durationOption("--settle", $0) }
        var run: PlaceRun
        do {
            run = try PlaceRun(
                fleet: fleet,
                options: .init(
                    hostPages: hostPages, hosts: hosts,
                    // A policy file is named absolutely: study.json is read from DIR.
                    policySpec: policy.files.isEmpty
                        ? policy.policy : URL(fileURLWithPath: policy.policy).standardizedFileURL.path,
                    assignments: policy.assignments,
                    policy: p, seed: policy.seed, settle: settleTime, arrival: arrival))
        } catch {
            throw CommandFailure.usage(error.description)
        }
        if !quiet {
            let a = run.placements[1]
            printNote(
                "place: \(fleet.vms.count) VMs placed in \(String(format: "%.2f", run.placeSeconds)) s: first-fit decreasing \(run.placements[0].hosts.count) hosts, sharing-aware \(a.hosts.count) (local search: \(a.passes) passes, \(a.moves) moves, \(a.hostsEmptied) hosts emptied)"
            )
        }
        do { try run.writeHosts(out: output) } catch { throw CommandFailure.failed(error.description) }
        if !noReplay {
            let merged: (merged: StudyMerge, dir: String)
            do {
                merged = try run.replay(out: output, jobs: jobs, log: quiet ? nil : { printNote("place: \($0)") })
            } catch {
                throw CommandFailure.failed(error.description)
            }
            try AtomicOutput.write(merged.merged.csv, to: merged.dir + "/merged.csv")
            try AtomicOutput.write(BuildStamp.stamp(merged.merged.json, as: .json), to: merged.dir + "/merged.json")
        }
        try AtomicOutput.write(BuildStamp.stamp(run.json(), as: .json), to: output + "/placement.json")
        let report = format == .json ? run.json() : run.text()
        try AtomicOutput.write(
            BuildStamp.stamp(report, as: format == .json ? .json : .text),
            to: output + (format == .json ? "/report.json" : "/report.txt"))
        try emitReport(report, as: format == .json ? .json : .text, to: nil)
    }
}

extension PlaceRun.Arrival: ExpressibleByArgument {}

/// The output folder of a command that writes several files: made if missing, a folder (not a
/// file), and none of the inputs inside it under a name the command writes.
func checkOutputFolder(_ dir: String, inputs: [String]) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
        guard isDir.boolValue else { throw CommandFailure.usage("\(dir): exists and is not a folder") }
    } else {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw CommandFailure.failed("\(dir): cannot make the output folder: \(error.localizedDescription)")
        }
    }
    let root = URL(fileURLWithPath: dir).standardizedFileURL.resolvingSymlinksInPath().path
    for i in inputs {
        let p = URL(fileURLWithPath: i).standardizedFileURL.resolvingSymlinksInPath().path
        let rel = p.hasPrefix(root + "/") ? String(p.dropFirst(root.count + 1)) : nil
        if let rel,
            rel.hasPrefix("hosts/") || rel.hasPrefix("study/")
                || ["placement.json", "report.txt", "report.json", "study.json"].contains(rel)
        {
            throw CommandFailure.usage("\(i) is inside \(dir) where place writes its outputs: choose another -o")
        }
    }
}
