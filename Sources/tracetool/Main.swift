import ArgumentParser
import Foundation
import TraceFormat

@main
struct TraceTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracetool",
        abstract: "Replay VM page-access and page-content traces through a model of VMware ESX Server's memory management.",
        discussion: """
        Traces are binary (*.mtr.zst) or text (*.mtr.txt, *.csv, optionally zstd-compressed); every \
        command detects which by content. See docs/FORMAT.md for both formats.
        """,
        version: TraceFormatVersion.toolVersion,
        subcommands: [ReplayCommand.self, CompareCommand.self, StatsCommand.self, PolicyCommand.self, InfoCommand.self, ValidateCommand.self, ConvertCommand.self, GenCommand.self, CaptureCommand.self, BenchCommand.self]
    )
}

/// Runs `body`, turning a trace error into one line on stderr and exit status 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as TraceError {
        printError(e.description)
        throw ExitCode(1)
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data(("tracetool: " + s + "\n").utf8))
}

func writeStdout(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
