import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

struct FingerprintCommand: ParsableCommand, LimitedCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "Summarise each VM's memory as a sketch and estimate how much sharing a host would save.",
        discussion: """
            For every VM of every TRACE, at --at (or the trace's end): the pages it holds by class \
            (content, zero, unknown: written with no content since) and the distinct contents as a \
            bottom-k sketch — the whole set while a VM has at most k distinct contents, so small VMs \
            are exact; beyond, a relative standard error of 1/√(k−2) on distinct contents. Prints each \
            VM, all of them on one host, and the pairs that save most together. A fingerprint file \
            (-o) feeds `tracetool place`; fingerprint files given as inputs are joined. See \
            docs/FLEET.md.
            """)

    @Argument(help: "Traces (binary or text), folders of traces, or fingerprint files (.json) to join.")
    var inputs: [String]
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp("Write the fingerprints to this file (JSON, atomically).", valueName: "FP"))
    var output: String?
    @Option(help: ArgumentHelp("The moment to summarise (e.g. 90s); default: each trace's end.", valueName: "T"))
    var at: String?
    @Option(
        help:
            "Sketch size: values kept per VM (\(ContentSketch.kRange.lowerBound)-\(ContentSketch.kRange.upperBound); 8 bytes each)."
    )
    var k: Int = ContentSketch.defaultK
    @Option(help: "Print this many pairs (0: none).") var pairs: Int = 10
    @Option(help: "Output format.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("Write the report to this file instead of stdout (atomically).", valueName: "FILE"))
    var report: String?
    @OptionGroup var limits: LimitOptions

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one trace or fingerprint file") }
        guard ContentSketch.kRange.contains(k) else {
            throw ValidationError(
                "--k must be between \(ContentSketch.kRange.lowerBound) and \(ContentSketch.kRange.upperBound)")
        }
        guard pairs >= 0 else { throw ValidationError("--pairs must be 0 or more") }
        if let a = at { _ = try durationOption("--at", a) }
    }

    func run() throws {
        try checkOutputs([output, report], inputs: inputs)
        try refuseStdin(inputs, "fingerprint")
        let moment = try at.flatMap { try durationOption("--at", $0) }
        let file = try FleetInputs.fingerprints(inputs, at: moment, k: k, atGiven: at != nil)
        if let output { try file.write(to: output) }
        let r = FingerprintReport(file, pairs: pairs)
        try emitReport(format == .json ? r.json() : r.text(), as: format == .json ? .json : .text, to: report)
    }
}

/// Traces and fingerprint files as one fingerprint file (fingerprint, place).
enum FleetInputs {
    /// Whether `path` is a fingerprint file: JSON (its first non-blank byte is `{`).
    static func isFingerprintFile(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 64)) ?? Data()
        return head.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) } == UInt8(ascii: "{")
    }

    /// The traces of a folder: its files named *.mtr, *.mtr.zst, *.mtr.txt or *.mtr.txt.zst, by name.
    static func expand(_ inputs: [String]) throws -> [String] {
        var out: [String] = []
        for path in inputs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                out.append(path)
                continue
            }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { n in
                [".mtr", ".mtr.zst", ".mtr.txt", ".mtr.txt.zst"].contains { n.hasSuffix($0) }
            }.sorted()
            guard !names.isEmpty else {
                throw CommandFailure.usage(
                    "\(path): a folder with no traces (*.mtr, *.mtr.zst, *.mtr.txt, *.mtr.txt.zst)")
            }
            let base = path.hasSuffix("/") ? String(path.dropLast()) : path
            out += names.map { base + "/" + $0 }
        }
        return out
    }

    static func fingerprints(_ given: [String], at: Micros?, k: Int, atGiven: Bool) throws -> FingerprintFile {
        var out = FingerprintFile(k: k, vms: [], hashes: [])
        for path in try expand(given) {
            if isFingerprintFile(path) {
                let f = try FingerprintFile.read(path)
                guard f.k == k else {
                    throw TraceError(
                        file: path,
                        .malformed(
                            "its sketches have k \(f.k), not \(k): give --k \(f.k) (sketches of different k do not combine)"
                        ))
                }
                if atGiven {
                    throw ValidationError(
                        "--at applies to traces; \(path) is a fingerprint file (its moments are fixed)")
                }
                out.vms += f.vms
                out.hashes += f.hashes
            } else {
                let header = try TraceFile.open(path).header
                let fs = try Fingerprints.make(path: path, at: at, k: k)
                out.vms += fs
                out.hashes += fs.map { _ in header.capture.hash?.algorithm ?? "unnamed" }
            }
        }
        // Sharing compares digests: one algorithm, one page size.
        if let first = out.hashes.first, let i = out.hashes.firstIndex(where: { $0 != first }) {
            throw TraceError(
                file: out.vms[i].trace,
                .malformed(
                    "VM \(out.vms[i].name) hashes content with \(out.hashes[i]), \(out.vms[0].name) with \(first): digests of different hashes cannot be compared"
                ))
        }
        if let first = out.vms.first?.pageSize, let bad = out.vms.first(where: { $0.pageSize != first }) {
            throw TraceError(
                file: bad.trace,
                .malformed(
                    "VM \(bad.name) has \(bad.pageSize)-byte pages, \(out.vms[0].name) \(first)-byte: a host has one page size"
                ))
        }
        return out
    }
}
