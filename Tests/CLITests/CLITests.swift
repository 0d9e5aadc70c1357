import Foundation
import Testing
import TraceFormat

/// Runs the built `tracetool` binary as a user would.
struct CLI {
    static var binary: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("tracetool").path
    }

    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// Exit statuses (README, "Exit status"): a run that failed, and a wrong command line.
    static let failure: Int32 = 1
    static let usage: Int32 = 64

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with `args`; under `ulimit -v addressSpaceKiB` (through /bin/sh) when given.
    static func run(_ args: [String], in directory: String? = nil, addressSpaceKiB: Int? = nil) throws -> Result {
        let p = Process()
        if let kib = addressSpaceKiB {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\"", binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
        }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        return try collect(p)
    }

    /// Runs `script` with /bin/sh in `directory`, `$TT` being the binary (pipes, redirections).
    static func shell(_ script: String, in directory: String) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        env["TT"] = binary
        p.environment = env
        return try collect(p)
    }

    /// Runs `p` to its end, collecting its stdout and stderr.
    private static func collect(_ p: Process) throws -> Result {
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }
}

extension CLI {
    /// A report without the build that made it (docs/REPORT.md "The build"): the first line of
    /// a text report, the `tool` member of a JSON one. Reports are otherwise the same bytes
    /// whatever commit built the binary.
    static func unstamped(_ report: String) -> String {
        if report.hasPrefix("tracetool "), let nl = report.firstIndex(of: "\n") {
            return String(report[report.index(after: nl)...])
        }
        if report.hasPrefix("{\n  \"tool\": {"), let nl = report.dropFirst(2).firstIndex(of: "\n") {
            return "{\n" + report[report.index(after: nl)...]
        }
        return report
    }

    /// Runs one of the project's bash scripts with TRACETOOL set to the binary under test; its
    /// exit status and what it printed (stdout and stderr together). For the gated tests that
    /// take a real cluster path (Slurm, the image).
    static func script(_ name: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [packageRoot + "/scripts/" + name]
        var env = ProcessInfo.processInfo.environment
        env["TRACETOOL"] = binary
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// Runs /usr/bin/python3 with `args` (scripts/deps.sh installs it); its exit status and stdout.
    static func python(_ args: [String]) throws -> (status: Int32, stdout: String) {
        let py = Process()
        py.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        py.arguments = args
        let out = Pipe()
        py.standardOutput = out
        try py.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        py.waitUntilExit()
        return (py.terminationStatus, text)
    }
}

final class Scratch {
    let path = NSTemporaryDirectory() + "tracetool-cli-" + UUID().uuidString
    init() { try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ n: String) -> String { path + "/" + n }
}

@Suite("Command line")
struct CLITests {
    @Test("Bad inputs exit 1 (below 128) with exactly one line naming the file")
    func badInputs() throws {
        let s = Scratch()
        let good = s.file("g.mtr.zst")
        #expect(try CLI.run(["gen", "mix", good, "--records", "3000", "--pages", "64"]).status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        var flipped = data
        flipped[data.count / 2] ^= 0xFF
        let cases: [(String, Data)] = [
            ("empty.mtr.zst", Data()),
            ("trunc.mtr.zst", data.prefix(data.count / 2)),
            ("flip.mtr.zst", flipped),
            ("junk.mtr.zst", Data("\u{1}\u{2}\u{3}garbage".utf8)),
            ("undeclared.txt", Data("vm,0,a,4\n0,1,R,0\n".utf8)),
            ("range.txt", Data("vm,0,a,4\n0,0,R,4\n".utf8)),
            ("back.txt", Data("vm,0,a,4\n9,0,R,0\n1,0,R,0\n".utf8)),
        ]
        for (name, bytes) in cases {
            try bytes.write(to: URL(fileURLWithPath: s.file(name)))
            for cmd in ["validate", "info"] {
                let r = try CLI.run([cmd, s.file(name)])
                #expect(r.status == 1, "\(cmd) \(name): status \(r.status)")
                let lines = r.stderr.split(separator: "\n")
                #expect(lines.count == 1, "\(cmd) \(name): \(r.stderr)")
                #expect(r.stderr.contains(name))
            }
        }
        let missing = try CLI.run(["validate", s.file("nope.mtr.zst")])
        #expect(missing.status == 1 && missing.stderr.contains("nope.mtr.zst"))
    }

    @Test("info, validate and convert work on every bundled trace; convert keeps records")
    func bundledTraces() throws {
        let s = Scratch()
        let dir = CLI.packageRoot + "/traces"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".zst") }.sorted()
        #expect(files.count >= 2)
        for f in files {
            let path = dir + "/" + f
            let v = try CLI.run(["validate", path])
            #expect(v.status == 0, "\(f): \(v.stderr)")
            let i = try CLI.run(["info", path])
            #expect(i.status == 0 && i.stdout.contains("records"))
            let j = try CLI.run(["info", "--format", "json", path])
            #expect(j.status == 0 && j.stdout.contains("\"vms\""))
            if f.hasPrefix("capture-") {
                // Captured traces carry their capture facts.
                #expect(i.stdout.contains("source      qemu-tcg") && i.stdout.contains("xxh3-64"), "\(f)")
                for key in [
                    "qemu = QEMU emulator version", "kernel = linux-image-", "busybox = ", "interval = ", "vm0 = ",
                ] {
                    #expect(i.stdout.contains(key), "\(f): info lacks \(key)")
                }
            }
            let out = s.file(f + ".txt")
            #expect(try CLI.run(["convert", path, out]).status == 0)
            #expect(try CLI.run(["validate", out]).status == 0)
        }
    }

    @Test("Usage errors are reported, not crashes")
    func usage() throws {
        let s = Scratch()
        let r = try CLI.run(["gen", "nosuch", s.file("x.mtr.zst")])
        #expect(r.status != 0 && r.status < 128 && r.stderr.contains("unknown scenario"))
        let h = try CLI.run(["--help"])
        #expect(h.status == 0 && h.stdout.contains("validate"))
        #expect(try CLI.run(["capture", "--help"]).stdout.contains("toucher"))
        // capture: bad --vm, and missing setup, are one line each, nothing written.
        for (args, message, status) in [
            (["--vm", "dance"], "starts with a workload", CLI.usage),
            (["--vm", "sort,mem=9999"], "mem is MiB", CLI.usage),
            (["--vm", "sort", "--assets", s.file("none")], "scripts/capture-setup.sh", CLI.failure),
        ] {
            let c = try CLI.run(["capture"] + args + ["-o", s.file("c.mtr.zst")])
            #expect(c.status == status && c.stderr.contains(message), "\(args): \(c.stderr)")
            #expect(c.stderr.split(separator: "\n").count == 1)
            #expect(!FileManager.default.fileExists(atPath: s.file("c.mtr.zst")))
        }
    }

    @Test("convert --vms keeps the listed VMs and their records only")
    func convertSubset() throws {
        let s = Scratch()
        let all = s.file("all.mtr.zst"), two = s.file("two.mtr.zst")
        #expect(try CLI.run(["gen", "mix", all, "--vms", "4", "--records", "20000", "--pages", "256"]).status == 0)
        let r = try CLI.run(["convert", all, two, "--vms", "1,3"])
        #expect(r.status == 0, "\(r.stderr)")
        let (header, footer) = try TraceFile.validate(two)
        #expect(header.vms.map(\.id) == [1, 3])
        var expected: UInt64 = 0
        let reader = try TraceFile.open(all)
        var batch: [TraceRecord] = []
        while try reader.next(into: &batch) {
            expected += UInt64(batch.filter { $0.vm.rawValue == 1 || $0.vm.rawValue == 3 }.count)
        }
        #expect(footer.records == expected && expected > 0)
        let bad = try CLI.run(["convert", all, s.file("bad.mtr.zst"), "--vms", "7"])
        #expect(bad.status == 1 && bad.stderr.contains("VM 7 is not declared"))
        // Large VM ids are looked up, not used as array sizes.
        let big = s.file("big.txt")
        try Data("vm,4000000000,a,4\nvm,3,b,4\n0,4000000000,R,0\n1,3,W,1\n".utf8).write(to: URL(fileURLWithPath: big))
        let one = s.file("one.mtr.zst")
        #expect(try CLI.run(["convert", big, one, "--vms", "4000000000"]).status == 0)
        let (h1, f1) = try TraceFile.validate(one)
        #expect(h1.vms.map(\.id) == [4_000_000_000] && f1.records == 1)
    }
}

@Suite("Replay from the command line")
struct ReplayCLITests {
    @Test(
        "replay writes JSON with every section, and a timeline CSV with the documented header, on every bundled trace")
    func replayAndTimeline() throws {
        let s = Scratch()
        let dir = CLI.packageRoot + "/traces"
        for f in try FileManager.default.contentsOfDirectory(atPath: dir).filter({ $0.hasSuffix(".zst") }).sorted() {
            let csv = s.file(f + ".csv")
            let r = try CLI.run([
                "replay", dir + "/" + f, "--format", "json", "--overcommit", "1.3", "--timeline", csv, "--quiet",
            ])
            #expect(r.status == 0, "\(f): \(r.stderr)")
            for key in [
                "\"schemaVersion\"", "\"sharing\"", "\"faults\"", "\"reclaim\"", "\"states\"", "\"allocation\"",
                "\"idle\"", "\"admission\"", "\"ksm\"",
            ] {
                #expect(r.stdout.contains(key), "\(f) lacks \(key)")
            }
            let text = try String(contentsOfFile: csv, encoding: .utf8)
            #expect(
                text.hasPrefix(
                    "time_seconds,vm_id,vm_name,allocated_mib,target_mib,balloon_mib,balloon_freed_mib,swapped_mib,shared_saved_mib,active_estimate_mib,active_true_mib,free_mib,state,guest_refaults,swap_ins\n"
                ))
            #expect(text.split(separator: "\n").count > 2)
        }
        // Every preset runs under pressure; the text report names the reclamation results.
        for preset in ["esx", "no-sharing", "zero-only", "no-tax", "swap-only", "lru-swap", "oracle", "ksm"] {
            let r = try CLI.run([
                "replay", dir + "/sample.mtr.zst", "--policy", preset, "--overcommit", "1.5", "--quiet",
            ])
            #expect(r.status == 0 && r.stdout.contains("Allocation and reclamation"), "\(preset): \(r.stderr)")
        }
        let bad = try CLI.run(["replay", dir + "/sample.mtr.zst", "--set", "idleTax=1.5"])
        #expect(bad.status != 0 && bad.stderr.contains("idleTax"))
    }
}

@Suite("compare, stats and the HTML report")
struct CompareCLITests {
    @Test(
        "compare works with presets, JSON files, overrides and sweeps, and is byte-identical for --jobs 1 and --jobs 2")
    func compareJobs() throws {
        let s = Scratch()
        let trace = CLI.packageRoot + "/traces/sample.mtr.zst"
        try Data(#"{"idleTax": 0.5, "swapVictim": "lru"}"#.utf8).write(to: URL(fileURLWithPath: s.file("p.json")))
        let args = [
            "compare", trace, "--policy", "esx", "--policy", "no-sharing", "--policy", s.file("p.json"),
            "--policy", "shareScanVM=100,idleTax=0.9", "--sweep", "overcommit=1.2,1.6", "--quiet",
        ]
        var outputs: [String] = []
        for jobs in ["1", "2", "3"] {
            for fmt in ["json", "text", "csv"] {
                let r = try CLI.run(args + ["--jobs", jobs, "--format", fmt])
                #expect(r.status == 0, "\(r.stderr)")
                #expect(r.stderr.isEmpty)  // no progress line when stderr is not a terminal
                outputs.append(r.stdout)
            }
        }
        #expect(outputs[0] == outputs[3] && outputs[0] == outputs[6])
        #expect(outputs[1] == outputs[4] && outputs[2] == outputs[5] && outputs[2] == outputs[8])
        let json = try JSONSerialization.jsonObject(with: Data(outputs[0].utf8)) as! [String: Any]
        let policies = json["runs"] as! [[String: Any]]
        #expect(policies.count == 8)
        #expect((policies[0]["policyName"] as? String) == "esx overcommit=1.2")
        #expect(outputs[2].split(separator: "\n").count == 1 + 8 * 5)  // header + 8 runs × (host + 4 VMs)
        #expect(outputs[1].contains(" *"))
        // A bad sweep or policy is refused with a message.
        let bad = try CLI.run(["compare", trace, "--sweep", "hashBits=x", "--quiet"])
        #expect(bad.status != 0 && bad.stderr.contains("hashBits"))
    }

    @Test("stats works on every bundled trace, in text and JSON")
    func stats() throws {
        let dir = CLI.packageRoot + "/traces"
        for f in try FileManager.default.contentsOfDirectory(atPath: dir).filter({ $0.hasSuffix(".zst") }).sorted() {
            let t = try CLI.run(["stats", dir + "/" + f, "--interval", "15s"])
            #expect(t.status == 0 && t.stdout.contains("oracle sharing bound"), "\(f): \(t.stderr)")
            let j = try CLI.run(["stats", dir + "/" + f, "--format", "json"])
            let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
            #expect((obj["vms"] as! [Any]).count >= 1)
            #expect((obj["intervals"] as! [Any]).count >= 1)
        }
    }
}

@Suite("capture: the command line's checks come before any VM boots")
struct CaptureCommandLineTests {
    @Test("Durations out of range are usage errors (64) that say what is wrong, negative ones included")
    func durations() throws {
        let s = Scratch()
        let cases: [([String], String)] = [
            (["--duration", "0"], "must be at least --interval"),
            (["--duration", "-5"], "is negative"),
            (["--duration", "25h"], "at most 24h"),
            (["--interval", "10ms"], "shorter than 100ms"),
            (["--warmup", "-1s"], "is negative"),
            (["--warmup", "2d"], "longer than 24h"),
            (["--icount-shift", "11"], "--icount-shift must be 0 to 10, or off"),
            (["--prewarm"], "--prewarm is for the Debian server workloads"),
        ]
        for (extra, message) in cases {
            let r = try CLI.run(["capture", "--vm", "sort", "-o", s.file("x.mtr.zst")] + extra)
            #expect(
                r.status == CLI.usage,
                "\(extra): status \(r.status)")
            #expect(r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: s.file("x.mtr.zst")))
        let r = try CLI.run(["capture", "--vm", "sort", "--track-reads", "-o", s.file("x.mtr.zst")])
        #expect(r.status == CLI.usage && r.stderr.contains("--track-reads is for attach mode"), "\(r.stderr)")
    }
}
