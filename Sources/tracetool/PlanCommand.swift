import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct PlanCommand: ParsableCommand, LimitedCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "How far can a host be overcommitted before the VMs suffer, and which policy gets furthest?",
        discussion: """
            For each trace and policy, finds the largest overcommit ratio (Σ max / memory for VMs; \
            equivalently the smallest host) at which the slowdown stays within the budget: the cost \
            model's estimated stall over powered-on time, over the traced span (docs/MODEL.md "Cost \
            model"). --measure worst-vm (the default) holds every VM to the budget and names the VM \
            that binds; --measure all holds all VMs' stall together over all their time. The search \
            replays a grid of ratios over --from…--to, then bisects between the last ratio within the \
            budget and the first over it until they are --precision apart; each round decodes the \
            trace once for all its replays. With --seeds N every point is replayed N times (the \
            policy's seed and the next ones) and the mean decides; answers give the 95% interval. \
            Prints one line per policy, the capacity curve and its knee; --format json or csv, --html \
            for a page with the curve and the budget line. --study FILE plans a study's traces and \
            policies (docs/STUDY.md). docs/PLAN.md has the details.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, csv }

    @Argument(help: "Trace files (binary or text); or give --study.") var files: [String] = []
    @Option(
        help: ArgumentHelp(
            "Plan the traces, policies, knobs and seeds of this study file (docs/STUDY.md).", valueName: "FILE.json"))
    var study: String?
    @Option(name: .customLong("policy"), help: ArgumentHelp("A policy (repeatable; default esx).", valueName: "P"))
    var policies: [String] = []
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Set one knob in every policy (repeatable).", valueName: "key=value")) var assignments:
        [String] = []
    @Option(help: "Seed of every policy's first replay (overrides each policy's).") var seed: UInt64?
    @Option(help: ArgumentHelp("The slowdown budget, a percentage (e.g. 2%).", valueName: "P%")) var slowdown: String =
        "2%"
    @Option(help: "Whose slowdown the budget bounds: worst-vm (every VM's own) or all (all VMs together).") var measure:
        String = "worst-vm"
    @Option(
        help: ArgumentHelp(
            "Replays per point; the mean decides, answers give the 95% interval. (default: 1, or a study's seeds)",
            valueName: "N")) var seeds: Int?
    @Option(help: ArgumentHelp("The smallest overcommit ratio searched.", valueName: "R")) var from: Double = 1
    @Option(help: ArgumentHelp("The largest overcommit ratio searched.", valueName: "R")) var to: Double = 4
    @Option(help: ArgumentHelp("Stop when the answer's bracket is narrower than this ratio.", valueName: "R"))
    var precision: Double = 0.05
    @Option(help: ArgumentHelp("Stop each replay at this simulated time.", valueName: "T")) var until: String?
    @Option(help: "Worker threads.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Output format.") var format: Format = .text
    @Option(
        name: .shortAndLong,
        help: "Write the output to this file (atomically; a regular file, never an input) instead of stdout (-).")
    var output: String?
    @Option(
        help: ArgumentHelp(
            "Also write an HTML page with the capacity curves and the budget line.", valueName: "FILE.html")) var html:
        String?
    @Flag(name: .shortAndLong, help: "No progress lines on stderr.") var quiet = false
    @OptionGroup var limits: LimitOptions

    var budget: Double? {
        let t = slowdown.trimmingCharacters(in: .whitespaces)
        guard t.hasSuffix("%"), let v = Double(t.dropLast().trimmingCharacters(in: .whitespaces)), v.isFinite else {
            return nil
        }
        return v
    }

    func validate() throws {
        if study != nil && !files.isEmpty { throw ValidationError("give trace files or --study, not both") }
        if study == nil && files.isEmpty {
            throw ValidationError("plan needs a trace (tracetool plan TRACE…) or --study FILE")
        }
        if study != nil && !policies.isEmpty {
            throw ValidationError("--study gives the policies; leave out --policy (or plan the traces directly)")
        }
        guard let b = budget else {
            throw ValidationError("--slowdown \"\(slowdown)\" is not a percentage; write it with %, e.g. --slowdown 2%")
        }
        guard b > 0, b <= 1000 else { throw ValidationError("--slowdown must be more than 0% and at most 1000%") }
        guard CapacityPlan.Measure(rawValue: measure) != nil else {
            throw ValidationError("--measure is worst-vm or all, not \"\(measure)\"")
        }
        if let seeds { guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be in [1, 100]") } }
        guard from > 0, from.isFinite, to.isFinite, to >= from, to <= 64 else {
            throw ValidationError(
                "--from and --to are overcommit ratios with 0 < from ≤ to ≤ 64 (got \(from) and \(to))")
        }
        guard precision > 0, precision.isFinite else { throw ValidationError("--precision must be a positive ratio") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        _ = try durationOption("--until", until)
    }

    func run() throws {
        var traces: [(name: String, path: String)] = []
        var policySpecs = policies.isEmpty ? ["esx"] : policies
        var studyAssignments: [String] = []
        var studySpec: StudySpec?
        if let study {
            let spec: StudySpec
            do {
                spec = try StudySpec.load(study)
                traces = try StudyPlan.traces(spec).map { ($0, spec.resolve($0)) }
            } catch {
                throw CommandFailure.usage(error.description)
            }
            policySpecs = spec.policies.map { $0.hasSuffix(".json") && !$0.hasPrefix("/") ? spec.resolve($0) : $0 }
            studyAssignments = spec.assignments
            studySpec = spec
            // What a study sets that a plan does not use: the host's size is what plan searches.
            var unused: [String] = []
            if spec.hostMemory != nil { unused.append("host.memory") }
            if spec.overcommit != nil { unused.append("host.overcommit") }
            if !spec.sweeps.isEmpty { unused.append("sweep (" + spec.sweeps.map(\.key).joined(separator: ", ") + ")") }
            if !unused.isEmpty {
                printNote(
                    "note: \(study): plan searches the host's size, so the study's " + unused.joined(separator: " and ")
                        + " \(unused.count == 1 ? "is" : "are") not used (its traces, policies, knobs, seeds, swap and until are)"
                )
            }
        } else {
            traces = files.map { (URL(fileURLWithPath: $0).lastPathComponent, $0) }
        }
        var choices: [CapacityPlan.PolicyChoice] = []
        for p in policySpecs {
            let (name, pol) = try policyOrExit("--policy \(p)") { () throws(PolicyError) in
                try RunGrid.policy(p, assignments: studyAssignments + assignments, seed: seed)
            }
            choices.append(.init(name: name, policy: pol))
        }
        let policyFiles = policySpecs.filter { FileManager.default.fileExists(atPath: $0) && !$0.contains("=") }
        try checkOutputs([output, html], inputs: traces.map(\.path) + policyFiles + (study.map { [$0] } ?? []))
        try refuseStdin(traces.map(\.path), "plan (one replay per overcommit it tries)")
        var o = CapacityPlan.Options()
        o.budgetPercent = budget!
        o.measure = CapacityPlan.Measure(rawValue: measure)!
        if let seeds {
            o.seeds = seeds
        } else if seed == nil, let list = studySpec?.seeds, !list.isEmpty {
            o.seedList = list
            o.seeds = list.count
        }
        o.swap = studySpec?.swap
        o.from = from; o.to = to; o.precision = precision
        o.until = try durationOption("--until", until) ?? studySpec?.until
        o.jobs = jobs
        var plans: [CapacityPlan.TracePlan] = []
        for t in traces {
            let quiet = self.quiet
            plans.append(
                try CapacityPlan.plan(path: t.path, trace: t.name, policies: choices, options: o) { line in
                    if !quiet { printNote("plan \(t.name): \(line)") }
                })
        }
        let text: String
        let kind: BuildStamp.Kind
        switch format {
        case .text: (text, kind) = (PlanRenderer.text(plans, o), .text)
        case .json: (text, kind) = (PlanRenderer.json(plans, o), .json)
        case .csv: (text, kind) = (PlanRenderer.csv(plans, o), .csv)
        }
        if let html { try AtomicOutput.write(BuildStamp.stamp(PlanRenderer.html(plans, o), as: .html), to: html) }
        try emitReport(text, as: kind, to: output)
    }
}
