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
            abstract: "Print every knob with its value (defaults, or those of a policy), or one knob.",
            discussion: """
                tracetool policy show                 every knob at its default (the esx preset)
                tracetool policy show no-tax          the knobs of a preset (also a JSON file or key=value,…)
                tracetool policy show idleTax         one knob: its meaning, default and the presets that change it
                """)
        @Argument(help: ArgumentHelp("A preset, a policy file, key=value,…, or a knob's name.", valueName: "NAME"))
        var name: String?
        @OptionGroup var model: PolicyOptions
        @Option(help: "Output format.") var format: OutputFormat = .text

        func validate() throws {
            if name != nil && CommandLineScan.given.contains("--policy") {
                throw ValidationError("give the policy as NAME or as --policy, not both")
            }
        }

        func run() throws {
            if let name, let knob = PolicyKnobs.knob(name) {
                writeStdout(format == .json ? PolicyRenderer.knobJSON(knob) : PolicyRenderer.knobText(knob))
                return
            }
            var options = model
            if let name { options.policy = name }
            let (title, p) = try options.resolve()
            writeStdout(format == .json ? PolicyRenderer.json(p) : PolicyRenderer.text(p, title: "policy \(title)"))
        }
    }
}
