import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct MergeCommand: ParsableCommand, LimitedCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Put the VMs of several traces on one host: one trace, records interleaved in time order.",
        discussion: """
            The inverse of `convert --vms`. VMs are renumbered 0…N−1 in input order (each input's VMs \
            in its header order) and keep their names (a name already taken gets -2, -3, …); the map is \
            printed and stored in the header's details. Every input starts at time 0, shifted by its \
            --offset. The inputs must share a page size, a hash algorithm (when they name one) and how \
            accesses were recorded. Memory holds one batch per input, whatever the traces' lengths. OUT \
            is text when it ends in .txt or .csv, binary otherwise, written atomically. See docs/FORMAT.md \
            "Merging traces".
            """)

    @Argument(help: "Input traces (binary or text), 2 to \(TraceMerge.maxInputs).") var inputs: [String]
    @Option(name: .shortAndLong, help: ArgumentHelp("The merged trace.", valueName: "OUT")) var output: String
    @Option(
        help: ArgumentHelp(
            "Shift each input's time, once per input in order (e.g. --offset 0 --offset 30s); default 0 for all.",
            valueName: "T"))
    var offset: [String] = []
    @Option(help: "zstd compression level for binary output (1-19).") var level: Int32 = 3
    @Flag(name: .shortAndLong, help: "Print only the summary line, not the VM map.") var quiet = false
    @OptionGroup var limits: LimitOptions

    func validate() throws {
        guard inputs.count >= 2 else { throw ValidationError("merge needs at least two input traces") }
        guard inputs.count <= TraceMerge.maxInputs else {
            throw ValidationError("\(inputs.count) inputs: merge takes at most \(TraceMerge.maxInputs) at once")
        }
        guard (1...19).contains(level) else { throw ValidationError("--level must be between 1 and 19") }
        guard offset.isEmpty || offset.count == inputs.count else {
            throw ValidationError("--offset: give one per input (\(inputs.count)), or none; got \(offset.count)")
        }
        for o in offset {
            do { _ = try Units.duration(o) } catch { throw ValidationError("--offset \(o): \(error.description)") }
        }
    }

    func run() throws {
        try checkOutputs([output], inputs: inputs, stdout: false)
        try refuseStdin(inputs, "merge")
        let shifts = try offset.map { try Units.duration($0) }
        let list = inputs.enumerated().map { i, p in
            TraceMerge.Input(path: p, offset: shifts.isEmpty ? .zero : shifts[i])
        }
        let (footer, map) = try TraceMerge.merge(list, to: output, level: level)
        var s = ""
        if !quiet {
            s += "# input file vm -> id name\n"
            for m in map { s += "\(m.input) \(m.file) \(m.oldID) -> \(m.newID) \(m.name)\n" }
        }
        s += "\(output): \(footer.records) records, \(map.count) VMs from \(inputs.count) traces\n"
        writeStdout(s)
    }
}
