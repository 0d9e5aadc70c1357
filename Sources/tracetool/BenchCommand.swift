import Analyzer
import ArgumentParser
import Foundation
import Replay
import Scenarios
import TraceFormat

/// `tracetool bench …`: speed measurements on one benchmark trace (scripts/bench.sh runs them
/// all). Every measurement alternates the thing measured with a baseline measured in the same
/// run (decode-only, zstd, replays one after another) and prints medians and their ratio, so
/// the figures hold on a busy machine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure decode and replay speed on a generated trace (build with -c release).",
        discussion: """
            Each measurement uses the benchmark trace: `mix` with 32 VMs of 65,536 pages, 5% content \
            records, over 10 minutes (`bench trace FILE` writes it), generated with --records records \
            unless --trace names one. Run as `swift run -c release tracetool bench decode|replay|…`; \
            scripts/bench.sh runs them all.
            """,
        subcommands: [Decode.self, Replay.self, Compare.self, Stats.self, Peer.self, Trace.self],
        defaultSubcommand: Decode.self)

    /// The benchmark trace: the one place it is specified.
    static func benchOptions(records: UInt64) -> GenOptions {
        var o = GenOptions()
        o.vms = 32
        o.pagesPerVM = 65_536
        o.records = records
        o.duration = 600
        o.contentFraction = 0.05
        return o
    }

    /// Which trace a measurement uses and how often it runs.
    struct TraceOptions: ParsableArguments {
        @Option(help: "Records in the generated trace.") var records: UInt64 = 50_000_000
        @Option(help: "Runs of each measurement; medians are reported.") var runs: Int = 5
        @Option(help: "Use this trace instead of generating one.") var trace: String?
        @Option(help: "Keep the generated trace at this path.") var keep: String?

        func validate() throws {
            guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
            if trace != nil && CommandLineScan.given.contains("--records") {
                throw ValidationError("--records sizes a generated trace; with --trace nothing is generated")
            }
            if trace != nil && keep != nil {
                throw ValidationError("--keep keeps a generated trace; with --trace nothing is generated")
            }
        }

        /// The trace to measure: --trace, or a generated one (kept with --keep).
        func path() throws -> String {
            if let trace { return trace }
            let path = keep ?? (NSTemporaryDirectory() + "tracetool-bench-\(getpid()).mtr.zst")
            try ScenarioRegistry.write(MixScenario.self, options: BenchCommand.benchOptions(records: records), to: path)
            return path
        }

        /// Removes a generated trace that was not asked to be kept.
        func done(_ path: String) {
            if trace == nil && keep == nil { try? FileManager.default.removeItem(atPath: path) }
        }

        /// Runs `body` `runs` times (each run times what it alternates).
        func each(_ body: () throws -> Void) rethrows {
            for _ in 0..<runs { try body() }
        }
    }

    /// Seconds `body` took.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }

    /// "median 1.234 s = 5.6 M records/s  (runs: …)".
    static func line(_ label: String, _ times: [Double], count: UInt64, unit: String = "records") -> String {
        let m = median(times)
        return label.padding(toLength: 12, withPad: " ", startingAt: 0)
            + "median \(String(format: "%.3f", m)) s = \(String(format: "%.1f", Double(count) / m / 1e6)) M \(unit)/s  (runs: \(times.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
    }

    /// Decodes every record of `path`; the number of records.
    static func decodeAll(_ path: String) throws -> UInt64 {
        let r = try TraceFile.open(path)
        var batch: [TraceRecord] = []
        var n: UInt64 = 0
        var sink: UInt64 = 0
        while try r.next(into: &batch) {
            n += UInt64(batch.count)
            sink &+= UInt64(batch[batch.count - 1].ppn.rawValue)
        }
        if sink == 42 { writeStdout("") }
        return n
    }

    /// One replay of `path` through the one replay entry point (`ReplayRunner`).
    /// The per-record check of a checked build is off: a checked build times what a release
    /// build does.
    static func replay(_ path: String, _ runs: [PolicyRun], jobs: Int = 1) throws -> [RunResult] {
        var r = ReplayRunner(
            path: path,
            runs: runs.map {
                var run = $0
                run.checkEveryStep = false
                return run
            })
        r.jobs = jobs
        return try r.run()
    }

    static func policy(_ text: String) throws -> Policy {
        try PolicyOptions.parse(["--policy", text]).resolve().1
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Alternate a full decode and `zstd -dc FILE > /dev/null`; medians and their ratio.")
        @OptionGroup var t: TraceOptions

        func run() throws {
            let path = try t.path()
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
            var count: UInt64 = 0
            var decode: [Double] = [], zstd: [Double] = []
            try t.each {
                decode.append(try BenchCommand.time { count = try BenchCommand.decodeAll(path) })
                zstd.append(try Decode.timeZstd(path))
            }
            let md = median(decode), mz = median(zstd)
            var s =
                "trace       \(path) (\(size) bytes, \(count) records, \(String(format: "%.2f", Double(size) / Double(max(count, 1)))) B/record)\n"
            s += BenchCommand.line("decode", decode, count: count)
            s +=
                "zstd -dc    median \(String(format: "%.3f", mz)) s  (runs: \(zstd.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
            s += "ratio       decode / zstd = \(String(format: "%.2f", md / mz))\n"
            writeStdout(s)
            t.done(path)
        }

        static func timeZstd(_ path: String) throws -> Double {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
            p.arguments = ["-dc", "-q", path]
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            let t0 = DispatchTime.now().uptimeNanoseconds
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw CommandFailure.failed("zstd -dc \(path) failed") }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Alternate a decode-only pass and a full replay (esx, or --policy/--overcommit); medians and their ratio."
        )
        @OptionGroup var t: TraceOptions
        @Option(help: "The policy (preset, file or key=value,…).") var policy: String = "esx"
        @Option(help: "Memory for VMs = sum of max / R; also times the replay without pressure.") var overcommit:
            Double?

        func run() throws {
            let path = try t.path()
            let pol = try BenchCommand.policy(policy)
            var spec = HostSpec()
            if let overcommit { spec.memory = .overcommit(overcommit) }
            var count: UInt64 = 0
            var decode: [Double] = [], replay: [Double] = [], baseline: [Double] = []
            var pressure = ""
            try t.each {
                decode.append(try BenchCommand.time { count = try BenchCommand.decodeAll(path) })
                var r: ReplayReport?
                replay.append(
                    try BenchCommand.time {
                        r = try BenchCommand.replay(path, [PolicyRun(name: policy, policy: pol, spec: spec)])[0].report
                    })
                pressure =
                    "host \(r!.host.machinePages) pages, \(r!.host.freeEndPages) free at end, swap-outs \(r!.reclaim.swapOut), balloon inflations \(r!.reclaim.balloonInflated), guest refaults \(r!.reclaim.guestRefaults)"
                if overcommit != nil {
                    baseline.append(
                        try BenchCommand.time {
                            _ = try BenchCommand.replay(path, [PolicyRun(name: policy, policy: pol, spec: HostSpec())])
                        })
                }
            }
            let md = median(decode), mr = median(replay)
            var s = "trace       \(path) (\(count) records), policy \(policy), \(pressure)\n"
            s += BenchCommand.line("decode", decode, count: count)
            s += BenchCommand.line("replay", replay, count: count)
            s += "ratio       replay / decode time = \(String(format: "%.2f", mr / md))\n"
            if !baseline.isEmpty {
                let mb = median(baseline)
                s += BenchCommand.line("no pressure", baseline, count: count)
                s += "ratio       throughput under pressure / without = \(String(format: "%.2f", mb / mr))\n"
            }
            writeStdout(s)
            t.done(path)
        }
    }

    /// The presets `bench compare` replays (with `idleTax=0.5`, eight policies).
    static let comparePresets = ["esx", "no-sharing", "esx-salted", "zero-only", "no-tax", "swap-only", "lru-swap"]

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "8 policies (the 7 presets and idleTax=0.5): compare --jobs 2 against the same 8 replays one after another."
        )
        @OptionGroup var t: TraceOptions
        @Option(help: "Memory for VMs = sum of max / R.") var overcommit: Double = 1.5

        func run() throws {
            let path = try t.path()
            var spec = HostSpec()
            spec.memory = .overcommit(overcommit)
            var runs: [PolicyRun] = BenchCommand.comparePresets.map {
                PolicyRun(name: $0, policy: Presets.named($0)!.policy, spec: spec)
            }
            var half = Policy()
            half.idleTax = 0.5
            runs.append(PolicyRun(name: "idleTax=0.5", policy: half, spec: spec))
            var parallel: [Double] = [], serial: [Double] = [], oneJob: [Double] = []
            try t.each {
                parallel.append(try BenchCommand.time { _ = try BenchCommand.replay(path, runs, jobs: 2) })
                serial.append(try BenchCommand.time { for run in runs { _ = try BenchCommand.replay(path, [run]) } })
                oneJob.append(try BenchCommand.time { _ = try BenchCommand.replay(path, runs, jobs: 1) })
            }
            let par = parallel
            func f(_ xs: [Double]) -> String { xs.map { String(format: "%.2f", $0) }.joined(separator: " ") }
            var s =
                "trace       \(path), \(runs.count) policies (\(runs.map(\.name).joined(separator: ", "))), --overcommit \(overcommit)\n"
            s +=
                "\(runs.count) replays one after another  median \(String(format: "%.2f", median(serial))) s  (runs: \(f(serial)))\n"
            s +=
                "compare --jobs 1             median \(String(format: "%.2f", median(oneJob))) s  (runs: \(f(oneJob)))\n"
            s += "compare --jobs 2             median \(String(format: "%.2f", median(par))) s  (runs: \(f(par)))\n"
            s +=
                "speed-up    --jobs 2 vs one after another = \(String(format: "%.2f", median(serial) / median(par)))x, vs --jobs 1 = \(String(format: "%.2f", median(oneJob) / median(par)))x\n"
            writeStdout(s)
            t.done(path)
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Alternate a decode-only pass and `stats` (10 s intervals); medians and their ratio.")
        @OptionGroup var t: TraceOptions

        func run() throws {
            let path = try t.path()
            var count: UInt64 = 0
            var decode: [Double] = [], stats: [Double] = []
            try t.each {
                decode.append(try BenchCommand.time { count = try BenchCommand.decodeAll(path) })
                stats.append(
                    try BenchCommand.time { _ = try TraceStats.compute(path: path, interval: Micros.seconds(10)) })
            }
            var s = "trace       \(path) (\(count) records)\n"
            s += BenchCommand.line("decode", decode, count: count)
            s += BenchCommand.line("stats", stats, count: count)
            s +=
                "ratio       stats throughput / decode-only = \(String(format: "%.2f", median(decode) / median(stats)))\n"
            writeStdout(s)
            t.done(path)
        }
    }

    struct Peer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Replay the trace (esx, no pressure) and print its page accesses per second; --oracle-out also writes them for libCacheSim (scripts/bench-peer.sh)."
        )
        @OptionGroup var t: TraceOptions
        @Option(help: "The policy (preset, file or key=value,…).") var policy: String = "esx"
        @Option(help: "Write every page access here in libCacheSim's oracleGeneral form (24 bytes each).")
        var oracleOut: String?

        func run() throws {
            try checkOutputs([oracleOut], inputs: t.trace.map { [$0] } ?? [])
            let path = try t.path()
            let pol = try BenchCommand.policy(policy)
            var report: ReplayReport?
            var times: [Double] = []
            try t.each {
                times.append(
                    try BenchCommand.time {
                        report = try BenchCommand.replay(
                            path, [PolicyRun(name: policy, policy: pol, spec: HostSpec())])[0].report
                    })
            }
            let accesses = report!.vms.reduce(0) { $0 + $1.pageAccesses }
            if let out = oracleOut { try OracleGeneral.write(from: try TraceFile.open(path), to: out) }
            var s = "trace       \(path), policy \(policy), host \(report!.host.machinePages) pages\n"
            s +=
                "tracetool   \(accesses) page accesses, "
                + BenchCommand.line("replay", times, count: accesses, unit: "page accesses").dropFirst(12)
            if let out = oracleOut {
                s +=
                    "oracle      \(out): \(accesses) requests of \(OracleGeneral.recordBytes) bytes, object id = VM << 32 | PPN, size 4096\n"
            }
            writeStdout(s)
            t.done(path)
        }
    }

    struct Trace: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the benchmark trace to FILE (what the other measurements generate).")
        @Argument(help: "Where to write it.") var file: String
        @Option(help: "Records in the trace.") var records: UInt64 = 50_000_000

        func run() throws {
            try checkOutputs([file], inputs: [])
            let footer = try ScenarioRegistry.write(
                MixScenario.self, options: BenchCommand.benchOptions(records: records), to: file)
            writeStdout("\(file): \(footer.records) records\n")
        }
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
