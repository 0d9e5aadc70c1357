import CXXHash
import Foundation
import Replay
import TraceFormat

/// A study (docs/STUDY.md): traces × policies × sweep grid × seeds, from a JSON file. Each cell
/// is one replay, planned with a stable id and a hash of its inputs, run on its own
/// (`study run --cell I`, one Slurm array task or Kubernetes index) or all here (`study local`),
/// its result one JSON file; `study merge` gathers them into one table.
public struct StudySpec: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// The study file and its folder (relative paths in it are relative to the folder).
    public var path: String
    public var dir: String
    public var traces: [String]
    public var policies: [String]
    public var assignments: [String]
    public var sweeps: [RunGrid.Sweep]
    public var seeds: [UInt64]?
    public var hostMemory: String?
    public var overcommit: Double?
    public var swap: String?
    public var settle: Micros
    public var until: Micros?
    public var output: String

    /// The most cells one study plans (each is a replay and a file).
    public static let maxCells = 100_000
    static let keys: Set<String> = ["traces", "policies", "set", "sweep", "seeds", "host", "settle", "until", "output"]

    /// Reads and checks a study file: unknown keys, wrong types, bad policies, sweeps and
    /// durations are errors naming the key.
    public static func load(_ path: String) throws(Failure) -> StudySpec {
        // Read with read(2), at most 1 MiB + 1 byte: no more is ever needed, and Foundation's
        // whole-file read leaks its buffer on an empty file.
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Failure("\(path): cannot read the study file") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: (1 << 20) + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Failure("\(path): cannot read the study file") }
            if n == 0 { break }
            count += n
        }
        guard count <= 1 << 20 else { throw Failure("\(path): more than 1 MiB; a study file is at most 1 MiB") }
        let data = Data(bytes[..<count])
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: data) } catch {
            throw Failure(
                "\(path): not JSON (\((error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"))")
        }
        guard let o = any as? [String: Any] else { throw Failure("\(path): the study must be a JSON object") }
        func fail(_ m: String) -> Failure { Failure("\(path): \(m)") }
        if let k = o.keys.sorted().first(where: { !keys.contains($0) }) {
            throw fail("unknown key \"\(k)\" (known: \(keys.sorted().joined(separator: ", ")))")
        }
        func strings(_ key: String, required: Bool) throws(Failure) -> [String] {
            guard let v = o[key] else {
                if required { throw fail("\"\(key)\" is missing") }
                return []
            }
            guard let a = v as? [String], !(required && a.isEmpty) else {
                throw fail("\"\(key)\" must be a\(required ? " non-empty" : "n") array of strings")
            }
            return a
        }
        func duration(_ key: String) throws(Failure) -> Micros? {
            guard let v = o[key] else { return nil }
            guard let s = v as? String, let d = Units.parseDuration(s) else {
                throw fail("\"\(key)\" must be a duration such as \"30m\"")
            }
            return d
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var spec = StudySpec(
            path: path, dir: dir, traces: try strings("traces", required: true),
            policies: try strings("policies", required: false),
            assignments: try strings("set", required: false), sweeps: [], seeds: nil,
            settle: try duration("settle") ?? .zero,
            until: try duration("until"), output: "study-results")
        if spec.policies.isEmpty { spec.policies = ["esx"] }
        if let out = o["output"] {
            guard let s = out as? String, !s.isEmpty else { throw fail("\"output\" must be a folder name") }
            spec.output = s
        }
        if let sw = o["sweep"] {
            guard let a = sw as? [[String: Any]] else {
                throw fail("\"sweep\" must be an array of {\"key\": …, \"values\": […]}")
            }
            for (i, e) in a.enumerated() {
                guard Set(e.keys) == ["key", "values"], let key = e["key"] as? String else {
                    throw fail("sweep[\(i)] must be {\"key\": …, \"values\": […]}")
                }
                let values: [String]
                if let v = e["values"] as? [String] {
                    values = v
                } else if let v = e["values"] as? [NSNumber] {
                    values = v.map { $0.stringValue }
                } else {
                    throw fail("sweep[\(i)].values must be an array of strings or numbers")
                }
                do { spec.sweeps.append(try RunGrid.checkSweep(.init(key: key, values: values))) } catch {
                    throw fail("sweep[\(i)]: \(error.description)")
                }
            }
            do { try RunGrid.checkTogether(spec.sweeps) } catch { throw fail("sweep: \(error.description)") }
        }
        if let s = o["seeds"] {
            guard let a = s as? [NSNumber], !a.isEmpty,
                a.allSatisfy({
                    $0.doubleValue >= 0 && $0.doubleValue == $0.doubleValue.rounded() && $0.doubleValue < 1.8e19
                })
            else {
                throw fail("\"seeds\" must be a non-empty array of unsigned integers")
            }
            let seeds = a.map(\.uint64Value)
            guard Set(seeds).count == seeds.count else { throw fail("\"seeds\" lists a seed twice") }
            if spec.sweeps.contains(where: { $0.key == "seed" }) {
                throw fail("\"seeds\" and a sweep of seed both choose seeds; give one")
            }
            spec.seeds = seeds
        }
        if let h = o["host"] {
            guard let hd = h as? [String: Any] else { throw fail("\"host\" must be an object") }
            if let k = hd.keys.sorted().first(where: { !["memory", "overcommit", "swap"].contains($0) }) {
                throw fail("host: unknown key \"\(k)\" (memory, overcommit, swap)")
            }
            if let m = hd["memory"] {
                guard let s = m as? String else { throw fail("host.memory must be a size such as \"4GiB\"") }
                do { _ = try Units.parseSize(s) } catch { throw fail("host.memory: \(error.description)") }
                spec.hostMemory = s
            }
            if let r = hd["overcommit"] {
                guard let n = r as? NSNumber, n.doubleValue > 0, n.doubleValue.isFinite else {
                    throw fail("host.overcommit must be a positive number")
                }
                spec.overcommit = n.doubleValue
            }
            if let s = hd["swap"] {
                guard let sz = s as? String else { throw fail("host.swap must be a size") }
                do { _ = try Units.parseSize(sz) } catch { throw fail("host.swap: \(error.description)") }
                spec.swap = sz
            }
            if spec.hostMemory != nil && spec.overcommit != nil {
                throw fail("host: give memory or overcommit, not both")
            }
            if (spec.hostMemory != nil || spec.overcommit != nil)
                && spec.sweeps.contains(where: { RunGrid.hostKeys.contains($0.key) })
            {
                throw fail(
                    "host sets the memory and a sweep of \(spec.sweeps.first { RunGrid.hostKeys.contains($0.key) }!.key) does too; give one"
                )
            }
        }
        let cells = spec.sweeps.reduce(spec.policies.count * (spec.seeds?.count ?? 1)) { $0 * $1.values.count }
        guard cells <= maxCells else { throw fail("\(cells) cells per trace is more than \(maxCells)") }
        return spec
    }

    var hostSpec: HostSpec {
        var h = HostSpec()
        if let m = hostMemory { h.memory = .size(m) }
        if let r = overcommit { h.memory = .overcommit(r) }
        h.swap = swap
        return h
    }

    public func resolve(_ p: String) -> String {
        URL(fileURLWithPath: p.hasPrefix("/") ? p : (dir as NSString).appendingPathComponent(p)).standardizedFileURL
            .path
    }

    /// The folder of results (cells/, merged.csv, merged.json, report.html).
    public func outputDir(override: String?) -> String { override ?? resolve(output) }
}

/// One cell: a trace, a policy at one grid cell, one seed.
public struct StudyCell: Sendable {
    public var id: Int
    /// The trace as the study names it (after glob expansion, relative to the study's folder).
    public var trace: String
    public var tracePath: String
    public var run: PolicyRun
    /// XXH3-64 of everything the result depends on (hex): the tool's version, the trace's bytes,
    /// the policy's every knob, the host settings, settle and until.
    public var inputHash: String
}

public struct StudyPlan: Sendable {
    public var spec: StudySpec
    public var cells: [StudyCell]

    /// Expands the traces (globs sorted by name; each must match something), policies, grid
    /// and seeds, in that order (the seed varies fastest), and hashes each cell's inputs — only
    /// those of the cells `hashing` names when given (a cluster task running one cell reads
    /// only its own trace; the others' `inputHash` stays empty).
    /// The study's traces as it names them, globs expanded (sorted by name; each must match
    /// something), duplicates once.
    public static func traces(_ spec: StudySpec) throws(StudySpec.Failure) -> [String] {
        var traces: [String] = []
        for t in spec.traces {
            let matches =
                t.contains(where: { "*?[".contains($0) })
                ? globFiles(spec.resolve(t)).map { relative($0, to: spec.dir, pattern: t) } : [t]
            if matches.isEmpty { throw .init("\(spec.path): traces: \"\(t)\" matches no file") }
            for m in matches where !traces.contains(m) { traces.append(m) }
        }
        return traces
    }

    public static func make(_ spec: StudySpec, hashing: Set<Int>? = nil) throws(StudySpec.Failure) -> StudyPlan {
        let traces = try Self.traces(spec)
        var base: [PolicyRun] = []
        for (i, p) in spec.policies.enumerated() {
            do {
                let r = try RunGrid.policy(
                    p.hasPrefix("/") || !p.hasSuffix(".json") ? p : spec.resolve(p), assignments: spec.assignments,
                    seed: nil)
                var run = PolicyRun(name: p.hasSuffix(".json") ? p : r.name, policy: r.policy, spec: spec.hostSpec)
                run.policyName = run.name
                base.append(run)
            } catch { throw .init("\(spec.path): policies[\(i)] \(p): \(error.description)") }
        }
        var runs: [PolicyRun]
        do { runs = try RunGrid.expand(base, sweeps: spec.sweeps) } catch {
            throw .init("\(spec.path): sweep \(error.description)")
        }
        if let seeds = spec.seeds { runs = RunGrid.replicate(runs) { _ in seeds } }
        let perTrace = runs.count
        guard traces.count * perTrace <= StudySpec.maxCells else {
            throw .init(
                "\(spec.path): \(traces.count) traces × \(perTrace) cells is more than \(StudySpec.maxCells) cells")
        }
        let settleUntil = "settle=\(spec.settle.rawValue) until=\(spec.until.map { String($0.rawValue) } ?? "-")"
        var cells: [StudyCell] = []
        for t in traces {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: spec.resolve(t), isDirectory: &isDir) else {
                throw .init("\(spec.path): trace \(t): no such file")
            }
            if isDir.boolValue { throw .init("\(spec.path): trace \(t): a directory, not a trace file") }
        }
        for (ti, t) in traces.enumerated() {
            let path = spec.resolve(t)
            let ids = (ti * perTrace)..<((ti + 1) * perTrace)
            var digest: String?
            if hashing.map({ h in ids.contains { h.contains($0) } }) ?? true {
                do { digest = try FileDigest.xxh3(path: path) } catch {
                    throw .init("\(spec.path): trace \(t): \(error.description)")
                }
            }
            for r in runs {
                var hash = ""
                if let digest, hashing?.contains(cells.count) ?? true {
                    let policy = String(
                        decoding: (try? JSONEncoder.canonical().encode(r.policy)) ?? Data(), as: UTF8.self)
                    let text = [
                        TraceFormatVersion.toolVersion, digest, policy, "\(r.spec.memory)", r.spec.swap ?? "-",
                        settleUntil,
                    ].joined(separator: "\n")
                    hash = FileDigest.xxh3(Array(text.utf8))
                }
                cells.append(StudyCell(id: cells.count, trace: t, tracePath: path, run: r, inputHash: hash))
            }
        }
        return StudyPlan(spec: spec, cells: cells)
    }

    /// Why the results cannot go to `out`, if a trace of the study lies where they are written
    /// (OUT/cells/, or OUT/merged.csv, merged.json, report.html): results never overwrite an
    /// input. Compared by device and inode, so another spelling of the same file is caught.
    public func outputProblem(out: String) -> String? {
        func identity(_ path: String) -> (dev_t, ino_t)? {
            var st = stat()
            return stat(path, &st) == 0 ? (st.st_dev, st.st_ino) : nil
        }
        let resultsDir = identity(StudyRunner.cellsDir(out))
        let written = [out + "/merged.csv", out + "/merged.json", out + "/report.html"].compactMap(identity)
        var seen: Set<String> = []
        for c in cells where seen.insert(c.tracePath).inserted {
            guard let t = identity(c.tracePath) else { continue }
            let parent = identity(URL(fileURLWithPath: c.tracePath).deletingLastPathComponent().path)
            if let resultsDir, let parent, parent == resultsDir {
                return
                    "trace \(c.trace) lies in \(StudyRunner.cellsDir(out)), where the study writes its results; give another output folder"
            }
            if written.contains(where: { $0 == t }) {
                return "trace \(c.trace) is one of the files the merge writes in \(out); give another output folder"
            }
        }
        return nil
    }

    /// `study plan`: one line per cell.
    public var text: String {
        var s = "# id hash trace run\n"
        for c in cells { s += "\(c.id) \(c.inputHash) \(c.trace) \(c.run.name)\n" }
        return s
    }

    static func globFiles(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(pattern, 0, nil, &g) == 0 else { return [] }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i], let s = String(validatingCString: p) {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: s, isDirectory: &isDir), !isDir.boolValue { out.append(s) }
            }
        }
        return out.sorted()
    }

    /// A glob match as the study would have named it: relative to the study's folder (with
    /// `..` where needed) when the pattern was.
    static func relative(_ path: String, to dir: String, pattern: String) -> String {
        guard !pattern.hasPrefix("/") else { return path }
        let a = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let b = URL(fileURLWithPath: dir).standardizedFileURL.pathComponents
        var common = 0
        while common < a.count - 1 && common < b.count && a[common] == b[common] { common += 1 }
        return (Array(repeating: "..", count: b.count - common) + a[common...]).joined(separator: "/")
    }
}

/// XXH3-64 of bytes or of a file, in hex.
public enum FileDigest {
    public static func xxh3(_ bytes: [UInt8]) -> String {
        String(bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }, radix: 16)
    }

    /// Streams the file in 1 MiB reads (memory does not grow with the file).
    public static func xxh3(path: String) throws(StudySpec.Failure) -> String {
        guard let fh = FileHandle(forReadingAtPath: path) else { throw .init("cannot open \(path)") }
        defer { try? fh.close() }
        guard let state = XXH3_createState() else { throw .init("out of memory") }
        defer { XXH3_freeState(state) }
        XXH3_64bits_reset(state)
        while true {
            let chunk: Data
            do { chunk = try fh.read(upToCount: 1 << 20) ?? Data() } catch {
                throw .init("cannot read \(path): \(error.localizedDescription)")
            }
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { _ = XXH3_64bits_update(state, $0.baseAddress, $0.count) }
        }
        return String(XXH3_64bits_digest(state), radix: 16)
    }
}
