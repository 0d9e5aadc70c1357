import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

@main
struct TraceTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracetool",
        abstract:
            "Replay VM page-access and page-content traces through a model of VMware ESX Server's memory management.",
        discussion: """
            Traces are binary (*.mtr.zst) or text (*.mtr.txt, *.csv, optionally zstd-compressed); every \
            command detects which by content. See docs/FORMAT.md for both formats.
            """,
        version: BuildInfo.versionText(reports: [
            ("replay/compare", ReplayReport.schemaVersion), ("plan", PlanRenderer.schemaVersion),
            ("stats", TraceStats.schemaVersion), ("study", StudyCellResult.schemaVersion),
        ]),
        subcommands: [
            ReplayCommand.self, CompareCommand.self, PlanCommand.self, StatsCommand.self, PolicyCommand.self,
            InfoCommand.self, ValidateCommand.self, ConvertCommand.self, MergeCommand.self, FingerprintCommand.self,
            PlaceCommand.self, GenCommand.self,
            CaptureCommand.self,
            ReproduceCommand.self, StudyCommand.self, BenchCommand.self,
        ]
    )

    /// Parses and runs a command. Every error is one line on stderr ("tracetool: …") and an
    /// exit status: 64 (`ExitStatus.usage`) when the command line is wrong, 1 when the run
    /// failed (an input, an output or a limit), or the status a command chose; help and
    /// version print as usual.
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if let problem = CommandLineScan.repeatedOption(args) { fail(problem, status: ExitStatus.usage) }
        CommandLineScan.given = CommandLineScan.optionsGiven(args)
        do {
            var command = try parseAsRoot(args)
            if let limited = command as? LimitedCommand { try limited.limits.apply() }
            try command.run()
        } catch let e as CommandFailure {
            fail(e.message, status: e.status)
        } catch let e as TraceError {
            fail(e.description, status: ExitStatus.failure)
        } catch let e as ReplayRunner.Failure {
            fail(e.description, status: e.isUsage ? ExitStatus.usage : ExitStatus.failure)
        } catch let e as ConfigError {
            fail(e.description, status: e.exitStatus)
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let text = message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            fail(text.split(separator: "\n").first.map(String.init) ?? text, status: code.rawValue)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        var m = message
        if m.hasPrefix("Error: ") { m.removeFirst(7) }
        printError(m)
        Foundation.exit(status)
    }
}

/// Why a command stopped: the one line stderr shows ("tracetool: …") and the exit status.
/// Commands throw it (or a `TraceError`, `ConfigError` or `ReplayRunner.Failure`, which `main`
/// maps the same way); `main` prints the line and exits.
struct CommandFailure: Error {
    var message: String
    var status: Int32
    /// The command line is wrong (exit status 64).
    static func usage(_ message: String) -> CommandFailure {
        CommandFailure(message: message, status: ExitStatus.usage)
    }
    /// The run failed (exit status 1).
    static func failed(_ message: String) -> CommandFailure {
        CommandFailure(message: message, status: ExitStatus.failure)
    }
}

/// A command with `--max-memory`: `main` applies the limit after parsing, before running.
protocol LimitedCommand {
    var limits: LimitOptions { get }
}

/// The exit statuses of every command (README, "Exit status").
enum ExitStatus {
    /// The run failed: an input could not be read or is invalid, an output could not be
    /// written, or a limit (memory, disk) was reached.
    static let failure: Int32 = 1
    /// The command line is wrong: an unknown option, a malformed or out-of-range value,
    /// options that conflict, or a setting the trace cannot take (BSD's EX_USAGE).
    static let usage: Int32 = 64
}

extension ConfigError {
    /// A setting the trace itself makes impossible is a failed run; any other is a usage error.
    var exitStatus: Int32 { inTrace ? ExitStatus.failure : ExitStatus.usage }
}

/// What ArgumentParser does not check: an option that holds one value given twice (it would
/// silently keep the last), and which options the user actually typed (for commands that must
/// refuse options they would ignore).
enum CommandLineScan {
    /// Every command path ("replay", "policy show") with its long options and those that may
    /// repeat, derived from the commands' declarations (an array-valued `@Option` repeats): the
    /// argument parser's own description of the tool, read once and only when an option was
    /// given twice.
    static let declared: [String: (options: Set<String>, repeating: Set<String>)] = {
        guard let data = TraceTool._dumpHelp().data(using: .utf8),
            let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let command = root["command"] as? [String: Any]
        else { return [:] }
        var out: [String: (options: Set<String>, repeating: Set<String>)] = [:]
        func walk(_ c: [String: Any], path: [String]) {
            var all: Set<String> = [], repeating: Set<String> = []
            for a in c["arguments"] as? [[String: Any]] ?? [] {
                for n in a["names"] as? [[String: Any]] ?? [] where n["kind"] as? String == "long" {
                    guard let name = n["name"] as? String else { continue }
                    all.insert("--" + name)
                    if a["isRepeating"] as? Bool == true { repeating.insert("--" + name) }
                }
            }
            if !path.isEmpty { out[path.joined(separator: " ")] = (all, repeating) }
            for sub in c["subcommands"] as? [[String: Any]] ?? [] {
                if let name = sub["commandName"] as? String { walk(sub, path: path + [name]) }
            }
        }
        walk(command, path: [])
        return out
    }()
    static let shortNames = ["-o": "--output", "-q": "--quiet", "-h": "--help"]
    nonisolated(unsafe) static var given: Set<String> = []

    /// The long names of the options in `args` (after the command words), each time it occurs.
    static func options(_ args: [String]) -> (command: String, names: [String]) {
        var words: [String] = []
        var names: [String] = []
        for a in args {
            if a == "--" { break }
            if a.hasPrefix("--") {
                names.append(String(a.split(separator: "=", maxSplits: 1)[0]))
            } else if a.hasPrefix("-"), a.count == 2, let long = shortNames[a] {
                names.append(long)
            } else if names.isEmpty && words.count < 2 && !a.hasPrefix("-") {
                words.append(a)
            }
        }
        return (words.joined(separator: " "), names)
    }

    static func optionsGiven(_ args: [String]) -> Set<String> { Set(options(args).names) }

    /// "--x given 2 times; it takes one value" for the first such option, or nil.
    static func repeatedOption(_ args: [String]) -> String? {
        let (words, names) = options(args)
        var count: [String: Int] = [:]
        for n in names { count[n, default: 0] += 1 }
        guard count.values.contains(where: { $0 > 1 }) else { return nil }
        // The command is the longest declared path the leading words spell ("policy show",
        // "study run"); the words after it are positionals.
        let w = words.split(separator: " ").map(String.init)
        let command =
            (0...w.count).reversed().map { w.prefix($0).joined(separator: " ") }.first { declared[$0] != nil } ?? ""
        let options = declared[command]?.options ?? []
        let ok = declared[command]?.repeating ?? []
        for n in names where count[n]! > 1 && options.contains(n) && !ok.contains(n) {
            let may = ok.isEmpty ? "" : " (options that repeat here: \(ok.sorted().joined(separator: ", ")))"
            return "\(n) given \(count[n]!) times; it takes one value\(may)"
        }
        return nil
    }
}

/// A line on stderr that is not an error: progress of a long command, where it wrote.
func printNote(_ s: String) {
    FileHandle.standardError.write(Data(("tracetool: " + s + "\n").utf8))
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data(("tracetool: " + s + "\n").utf8))
}

/// `--max-memory`: what a command may plan to allocate by sizes the input declares.
struct LimitOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Most memory this run may plan to use for what the trace declares (pages, intervals, timeline rows), e.g. 8GiB. Default: the smallest of half the machine's memory and three quarters of what the cgroup memory limit, RLIMIT_AS and RLIMIT_DATA leave; here \(MemoryBudget.fromEnvironment().summary).",
            valueName: "SIZE"))
    var maxMemory: String?

    /// The limit in bytes, nil when not given.
    func bytes() throws -> UInt64? {
        guard let maxMemory else { return nil }
        let size: Units.Size
        do { size = try Units.parseSize(maxMemory) } catch {
            throw ValidationError("--max-memory \(error.description)")
        }
        let bytes = size.pages(pageSize: 1)
        guard bytes >= 1 << 20 else { throw ValidationError("--max-memory must be at least 1MiB") }
        return bytes
    }

    func validate() throws { _ = try bytes() }

    /// Sets the process's memory budget (`main` calls it once the command line is parsed).
    func apply() throws {
        guard let b = try bytes() else { return }
        MemoryBudget.setByUser(b)
    }
}

/// Checks, before any work, that every output may be written (README "Outputs"):
/// regular files or new ones, none an input, no two the same. `-` (stdout) is skipped.
/// Refusing an existing file (not regular, or an input) is a usage error: the command line
/// named the wrong file; a path that cannot be looked up (no permission) is a failure.
/// `stdout: false` for outputs that must be files (traces): "-" is refused there.
func checkOutputs(_ outputs: [String?], inputs: [String], stdout: Bool = true) throws {
    if !stdout, outputs.contains("-") {
        throw CommandFailure.usage("-: this command writes a trace file, not stdout: give a file name")
    }
    var seen: [String: String] = [:]
    for case let o? in outputs where o != "-" {
        do { try OutputPath.check(o, inputs: inputs) } catch {
            // The command line named an existing file it may not write, or a folder that is
            // not there: a usage error. Anything else (no permission to look) is a failure.
            var st = stat()
            let dir = OutputPath.folder(of: o)
            let folderMissing = lstat(o, &st) != 0 && errno == ENOENT && stat(dir.isEmpty ? "." : dir, &st) != 0
            throw CommandFailure(
                message: error.description,
                status: lstat(o, &st) == 0 || folderMissing ? ExitStatus.usage : ExitStatus.failure)
        }
        let key = URL(fileURLWithPath: o).standardizedFileURL.resolvingSymlinksInPath().path
        if let other = seen[key] {
            throw CommandFailure.usage("\(o): the same file is given as two outputs (\(other) and \(o))")
        }
        seen[key] = o
    }
}

/// Refuses `-` (standard input) among `inputs` for a command that reads a trace more than once
/// (`what` says why): stdin can be read once.
func refuseStdin(_ inputs: [String], _ what: String) throws {
    guard inputs.contains(TraceFile.stdinPath) else { return }
    throw CommandFailure.usage(
        "-: \(what) reads the trace more than once and cannot take it from stdin: save it to a file (replay, compare, stats, info and validate read a trace from stdin)"
    )
}

/// Writes `text` to `output` atomically, or to stdout when `output` is nil or `-`.
func emit(_ text: String, to output: String?) throws {
    if let output, output != "-" {
        try AtomicOutput.write(text, to: output)
    } else {
        writeStdout(text)
    }
}

/// One warning line on stderr.
func printWarning(_ s: String) {
    FileHandle.standardError.write(Data(("tracetool: warning: " + s + "\n").utf8))
}

/// One warning line on stderr per VM the run refused at power-on (from the report, so
/// `replay` and `compare` say the same).
func warnRefusals(_ report: ReplayReport, file: String, policy: String? = nil) {
    let who = policy.map { "policy \($0): " } ?? ""
    for f in report.admission.refusals {
        printWarning("\(file): \(who)\(f.sentence(pageSize: report.host.pageSizeBytes))")
    }
}

func writeStdout(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Names the build that computed a report in its header (docs/REPORT.md "The build"): a first
/// line in text, a `tool` member first in a JSON object, a line under the title in Markdown, a
/// line at the top of an HTML page's body. CSV is left as it is: a line above the header row
/// would break every CSV reader.
enum BuildStamp {
    enum Kind { case text, json, markdown, html, csv }

    static func stamp(_ report: String, as kind: Kind) -> String {
        let line = BuildInfo.reportLine
        switch kind {
        case .csv:
            return report
        case .text:
            return line + "\n" + report
        case .json:
            guard report.hasPrefix("{") else { return report }
            let members = BuildInfo.json.sorted { $0.key < $1.key }.map {
                "\"\($0.key)\": \(TypedTable.jsonString($0.value))"
            }
            let object = "{" + members.joined(separator: ", ") + "}"
            let rest = report.dropFirst()
            if rest.hasPrefix("\n") { return "{\n  \"tool\": \(object),\n" + rest.dropFirst() }
            return "{\"tool\":\(object)," + rest
        case .markdown:
            guard report.hasPrefix("# "), let end = report.firstIndex(of: "\n") else { return line + "\n\n" + report }
            return report[...end] + "\n" + line + "\n" + report[report.index(after: end)...]
        case .html:
            guard let body = report.range(of: "<body>") else { return report }
            return report[..<body.upperBound] + "<p class=\"build\">\(line)</p>" + report[body.upperBound...]
        }
    }
}

/// `emit` for a report: stamped with the build first.
func emitReport(_ text: String, as kind: BuildStamp.Kind, to output: String?) throws {
    try emit(BuildStamp.stamp(text, as: kind), to: output)
}
