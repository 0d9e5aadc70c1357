import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Show policy knobs and presets.",
        subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print every knob with its value (defaults, or those of --policy/--set).")
        @OptionGroup var model: PolicyOptions
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            let (name, p) = try model.resolve()
            writeStdout(format == .json ? PolicyRenderer.json(p) : PolicyRenderer.text(p, title: "policy \(name)"))
        }
    }
}
