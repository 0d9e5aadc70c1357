import Analyzer
import ArgumentParser
import Foundation

struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Rerun the paper's experiments and set ours beside the paper's numbers.",
        discussion: """
            Fig. 4 (N identical VMs), Fig. 5 (real workloads), Fig. 6 (the sampled estimate \
            following a toucher, with DAMON-style regions beside it), Fig. 7 (the idle memory tax), \
            Fig. 8 (five VMs under dynamic reallocation), ballooning against host paging (the cost \
            model's estimated stall), and the thresholds and defaults. Runs on the bundled traces \
            (--traces) and on `tracetool gen` scenarios made in a temporary folder. For each \
            experiment: the paper's number, ours, the difference, and why they differ (docs/MODEL.md, \
            "Reproducing the paper"); a bundled trace that is missing is reported as not run. The \
            output is a pure function of the code and the traces: byte-identical for any --jobs. \
            The full run takes a few minutes on two cores; --quick runs scaled-down settings in \
            under a minute. docs/REPRODUCTION.md is the full run's Markdown.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case html, md }

    @Option(
        name: .shortAndLong, help: "Write the report to this file (atomically; a regular file) instead of stdout (-).")
    var output: String?
    @Option(help: "Output format (default: html with -o FILE unless FILE ends in .md, md on stdout).") var format:
        Format?
    @Flag(help: "Scaled-down settings: smaller generated guests, the two largest bundled traces left out.") var quick =
        false
    @Option(help: "Replays at once.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: ArgumentHelp("The folder of the bundled traces.", valueName: "DIR")) var traces: String = "traces"
    @Flag(name: .shortAndLong, help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: traces, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError(
                "--traces: \(traces) is not a folder (run from the project's root, or name the folder of the bundled traces)"
            )
        }
    }

    var resolvedFormat: Format {
        if let format { return format }
        if let output, output != "-", !output.hasSuffix(".md") { return .html }
        return .md
    }

    func run() throws {
        var o = ReproductionOptions()
        o.quick = quick
        o.jobs = jobs
        o.tracesDir = traces
        try checkOutputs([output], inputs: Reproduction.inputs(o).filter { FileManager.default.fileExists(atPath: $0) })
        let quiet = self.quiet
        let rep: Reproduction
        do {
            rep = try Reproduction.run(o) { line in
                guard !quiet else { return }
                printNote("reproduce: \(line)")
            }
        } catch {
            throw CommandFailure.failed("reproduce: \(error)")
        }
        for m in rep.notRun { printWarning("not run: \(m)") }
        let text = resolvedFormat == .html ? ReproductionRenderer.html(rep) : ReproductionRenderer.markdown(rep)
        try emitReport(text, as: resolvedFormat == .html ? .html : .markdown, to: output)
        if let output, output != "-" {
            printNote(
                "reproduce: wrote \(resolvedFormat == .html ? "the HTML report" : "the Markdown summary") to \(output)")
        }
    }
}
