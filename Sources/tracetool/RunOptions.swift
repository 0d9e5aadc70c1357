import ArgumentParser
import Analyzer
import Foundation
import Replay
import TraceFormat

/// The options that say how long replays run and what they record over time, shared by
/// `replay` and `compare`: `--until`, `--settle`, `--timeline-interval`.
struct RunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Stop at this simulated time (30s, 15m, 2h).", valueName: "T")) var until: String?
    @Option(
        help: ArgumentHelp(
            "Keep the clock (the sharing scan, reclamation) running this long after the last record.", valueName: "D"))
    var settle: String?
    @Option(
        help: ArgumentHelp("Timeline and HTML chart interval (with --timeline or --html; default 10s).", valueName: "D")
    )
    var timelineInterval: String?

    func validate() throws {
        _ = try durationOption("--until", until)
        _ = try durationOption("--settle", settle)
        _ = try timelineIntervalOption(timelineInterval)
    }

    /// Refuses `--timeline-interval` when nothing draws a timeline.
    func check(timelineWanted: Bool) throws {
        if timelineInterval != nil && !timelineWanted {
            throw ValidationError("--timeline-interval needs --timeline or --html")
        }
    }

    var untilTime: Micros? { until.flatMap(Units.parseDuration) }
    var settleTime: Micros { settle.flatMap(Units.parseDuration) ?? .zero }
    /// The timeline's interval: the option's, or 10 s.
    var interval: Micros { timelineInterval.flatMap(Units.parseDuration) ?? Micros.seconds(10) }

    /// Sets `runner`'s span and, when a timeline is drawn, its interval.
    func configure(_ runner: inout ReplayRunner, timeline: Bool) {
        runner.until = untilTime
        runner.settle = settleTime
        if timeline { runner.timelineInterval = interval }
    }
}

/// A duration option's value (nil when not given), or a usage error that names the option and
/// the forms a duration takes.
func durationOption(_ flag: String, _ value: String?) throws -> Micros? {
    guard let value else { return nil }
    do { return try Units.duration(value) } catch { throw ValidationError("\(flag) \(error.description)") }
}

/// `--timeline-interval`: at least 1s (the model moves once a simulated second); nil when not given.
func timelineIntervalOption(_ value: String?) throws -> Micros? {
    guard let iv = try durationOption("--timeline-interval", value) else { return nil }
    guard iv.rawValue >= 1_000_000 else {
        throw ValidationError(
            "--timeline-interval \"\(value!)\" is shorter than 1s (the model moves once a simulated second)")
    }
    return iv
}
