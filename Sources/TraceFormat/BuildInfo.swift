import CBuildInfo

/// What this binary is: its version, the commit and date it was built from, and the versions of
/// the formats it reads and writes. `tracetool --version` prints `versionText`; every report
/// names the build in its header (`reportLine` in text, `json` in JSON) so a result can be traced
/// back to the code that computed it.
///
/// The commit and date come from the build's environment (TRACETOOL_COMMIT,
/// TRACETOOL_BUILD_DATE; see Package.swift): a plain `swift build` says "unknown" for both, the
/// project's scripts and the Debian package fill them in. The date is the commit's date (or
/// SOURCE_DATE_EPOCH), not the wall clock, so two builds of one commit are the same bytes.
public enum BuildInfo {
    public static let version = TraceFormatVersion.toolVersion
    public static let commit = String(cString: tracetool_build_commit())
    public static let date = String(cString: tracetool_build_date())

    /// Binary trace format versions this build reads; it writes `TraceFormatVersion.current`.
    public static let binaryFormatsRead: ClosedRange<UInt16> = 1...TraceFormatVersion.current

    /// One line: "tracetool 0.1.0 (commit 4a90ec3c1b2d, built 2026-12-06)".
    public static var reportLine: String { "tracetool \(version) (commit \(commit), built \(date))" }

    /// The build as a JSON object's members (name, version, commit, builtDate); the report
    /// header writes them sorted by key.
    public static var json: [String: String] {
        ["name": "tracetool", "version": version, "commit": commit, "builtDate": date]
    }

    /// What `tracetool --version` prints; `reports` are the report schema versions this build
    /// writes (docs/REPORT.md), which the report modules own.
    public static func versionText(reports: [(name: String, version: Int)]) -> String {
        var s = "tracetool \(version)\n"
        s += "commit        \(commit)\n"
        s += "built         \(date)\n"
        s += "binary traces read version \(binaryFormatsRead.lowerBound)–\(binaryFormatsRead.upperBound), "
        s += "write version \(TraceFormatVersion.current)\n"
        s += "text traces   read and write version 1\n"
        s += "reports       " + reports.map { "\($0.name) schema \($0.version)" }.joined(separator: ", ")
        return s
    }
}
