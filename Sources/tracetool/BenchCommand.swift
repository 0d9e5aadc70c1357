import Analyzer
import ArgumentParser
import Foundation
import Replay
import Scenarios
import TraceFormat

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure decode and replay speed on a generated trace (build with -c release).",
        discussion: """
        decode: generates a `mix` trace (32 VMs, --records records, 5% content records) unless \
        --trace names one, then alternates a full decode and `zstd -dc FILE > /dev/null`, \
        --runs times each, and prints medians and their ratio. \
        replay: the same trace; alternates a decode-only pass and a full replay (esx preset, or \
        --policy/--overcommit), and prints medians and their ratio. \
        compare: 8 policies (the 7 presets and idleTax=0.5) under --overcommit (default 1.5): \
        `compare --jobs 2` against the same 8 replays run one after another (each decoding the \
        trace), medians of --runs. \
        stats: alternates a decode-only pass and `stats` (10 s intervals), medians and their ratio. \
        peer: replays the trace (esx, no pressure) and prints its page accesses per second; with \
        --oracle-out also writes every page access in libCacheSim's oracleGeneral binary form \
        (scripts/bench-peer.sh replays that file under libCacheSim). \
        Run as `swift run -c release tracetool bench decode|replay|compare|stats|peer`; \
        scripts/bench.sh runs them all.
        """)

    enum Kind: String, ExpressibleByArgument, CaseIterable { case decode, replay, compare, stats, peer }

    @Argument(help: "What to measure.") var kind: Kind = .decode
    @Option(help: "Records in the generated trace.") var records: UInt64 = 50_000_000
    @Option(help: "Runs of each measurement; medians are reported.") var runs: Int = 5
    @Option(help: "Use this trace instead of generating one.") var trace: String?
    @Option(help: "Keep the generated trace at this path.") var keep: String?

    @Option(help: "replay: the policy (preset, file or key=value,…).") var policy: String = "esx"
    @Option(help: "replay and compare: memory for VMs = sum of max / R (compare: default 1.5).") var overcommit: Double?
    @Option(help: "peer: write every page access here in libCacheSim's oracleGeneral form (24 bytes each).") var oracleOut: String?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        if kind != .replay && CommandLineScan.given.contains("--policy") {
            throw ValidationError("bench \(kind.rawValue) does not use --policy (only bench replay does)")
        }
        if kind == .decode && CommandLineScan.given.contains("--overcommit") {
            throw ValidationError("bench decode does not use --overcommit")
        }
        if trace != nil && CommandLineScan.given.contains("--records") {
            throw ValidationError("--records sizes a generated trace; with --trace nothing is generated")
        }
        if trace != nil && keep != nil { throw ValidationError("--keep keeps a generated trace; with --trace nothing is generated") }
        if kind != .peer && oracleOut != nil { throw ValidationError("--oracle-out is for bench peer") }
        if kind == .stats || kind == .peer, CommandLineScan.given.contains("--overcommit") {
            throw ValidationError("bench \(kind.rawValue) does not use --overcommit")
        }
    }

    func run() throws {
        try checkOutputs([oracleOut, keep], inputs: trace.map { [$0] } ?? [])
        if kind == .replay { return try runReplay() }
        if kind == .compare { return try runCompare() }
        if kind == .stats { return try runStats() }
        if kind == .peer { return try runPeer() }
        let path = try reportingErrors { try benchTrace() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        var decode: [Double] = []
        var zstd: [Double] = []
        var count: UInt64 = 0
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            count = try reportingErrors { try decodeAll(path) }
            decode.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            zstd.append(try timeZstd(path))
        }
        let md = median(decode), mz = median(zstd)
        var s = "trace       \(path) (\(size) bytes, \(count) records, \(String(format: "%.2f", Double(size) / Double(max(count, 1)))) B/record)\n"
        s += "decode      median \(String(format: "%.3f", md)) s = \(String(format: "%.1f", Double(count) / md / 1e6)) M records/s  (runs: \(decode.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        s += "zstd -dc    median \(String(format: "%.3f", mz)) s  (runs: \(zstd.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        s += "ratio       decode / zstd = \(String(format: "%.2f", md / mz))\n"
        writeStdout(s)
        if trace == nil && keep == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    func benchTrace() throws(TraceError) -> String {
        if let trace { return trace }
        let path = keep ?? (NSTemporaryDirectory() + "tracetool-bench-\(getpid()).mtr.zst")
        var o = GenOptions()
        o.vms = 32
        o.pagesPerVM = 65_536
        o.records = records
        o.duration = 600
        o.contentFraction = 0.05
        try ScenarioRegistry.write(MixScenario.self, options: o, to: path)
        return path
    }

    func decodeAll(_ path: String) throws(TraceError) -> UInt64 {
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

    func timeZstd(_ path: String) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
        p.arguments = ["-dc", "-q", path]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let t0 = DispatchTime.now().uptimeNanoseconds
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("zstd -dc failed") }
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

extension BenchCommand {
    func runReplay() throws {
        let path = try reportingErrors { try benchTrace() }
        let (_, pol) = try PolicyOptions.parse(["--policy", policy]).resolve()
        let spec = try HostOptions.parse(overcommit.map { ["--overcommit", String($0)] } ?? []).spec()
        var decode: [Double] = [], replay: [Double] = [], baseline: [Double] = []
        var count: UInt64 = 0
        var pressure = ""
        func timeReplay(_ spec: HostSpec) throws -> (Double, String) {
            let t1 = DispatchTime.now().uptimeNanoseconds
            let reader = try reportingErrors { try TraceFile.open(path) }
            let host = try HostConfig.resolve(header: reader.header, policy: pol, spec: spec)
            let engine = try ReplayEngine(host: host, policy: pol)
            engine.checkEveryStep = false
            try Replayer().run(reader, engine: engine)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
            let snap = engine.snapshot()
            let c = snap.vms.reduce(VMCounters()) { $0 + $1.counters }
            return (dt, "host \(host.machinePages) pages, \(snap.freePages) free at end, swap-outs \(c.swapOut), balloon inflations \(c.balloonInflated), guest refaults \(c.guestRefaults)")
        }
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            count = try reportingErrors { try decodeAll(path) }
            decode.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            let (dt, p) = try timeReplay(spec)
            replay.append(dt)
            pressure = p
            if overcommit != nil { baseline.append(try timeReplay(HostSpec()).0) }
        }
        let md = median(decode), mr = median(replay)
        var s = "trace       \(path) (\(count) records), policy \(policy), \(pressure)\n"
        s += "decode      median \(String(format: "%.3f", md)) s = \(String(format: "%.1f", Double(count) / md / 1e6)) M records/s  (runs: \(decode.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        s += "replay      median \(String(format: "%.3f", mr)) s = \(String(format: "%.1f", Double(count) / mr / 1e6)) M records/s  (runs: \(replay.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        s += "ratio       replay / decode time = \(String(format: "%.2f", mr / md))\n"
        if !baseline.isEmpty {
            let mb = median(baseline)
            s += "no pressure median \(String(format: "%.3f", mb)) s = \(String(format: "%.1f", Double(count) / mb / 1e6)) M records/s  (runs: \(baseline.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
            s += "ratio       throughput under pressure / without = \(String(format: "%.2f", mb / mr))\n"
        }
        writeStdout(s)
        if trace == nil && keep == nil { try? FileManager.default.removeItem(atPath: path) }
    }
}

extension BenchCommand {
    /// The presets `bench compare` replays (with `idleTax=0.5`, eight policies).
    static let comparePresets = ["esx", "no-sharing", "esx-salted", "zero-only", "no-tax", "swap-only", "lru-swap"]
}

extension BenchCommand {
    func runCompare() throws {
        let path = try reportingErrors { try benchTrace() }
        var spec = HostSpec()
        spec.memory = .overcommit(overcommit ?? 1.5)
        // Eight policies: seven presets of the paper's mechanisms and one tax setting.
        var runs: [PolicyRun] = BenchCommand.comparePresets.map { name in
            PolicyRun(name: name, policy: Presets.named(name)!.policy, spec: spec)
        }
        var half = Policy()
        half.idleTax = 0.5
        runs.append(PolicyRun(name: "idleTax=0.5", policy: half, spec: spec))
        var parallel: [Double] = [], serial: [Double] = [], oneJob: [Double] = []
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        for _ in 0..<self.runs {
            var t = now()
            var r = CompareRunner(path: path, runs: runs)
            r.jobs = 2
            _ = try r.run()
            parallel.append(Double(now() - t) / 1e9)
            t = now()
            for run in runs {
                let reader = try reportingErrors { try TraceFile.open(path) }
                let host = try HostConfig.resolve(header: reader.header, policy: run.policy, spec: run.spec)
                let engine = try ReplayEngine(host: host, policy: run.policy)
                engine.checkEveryStep = false
                try Replayer().run(reader, engine: engine)
            }
            serial.append(Double(now() - t) / 1e9)
            t = now()
            r.jobs = 1
            _ = try r.run()
            oneJob.append(Double(now() - t) / 1e9)
        }
        func f(_ xs: [Double]) -> String { xs.map { String(format: "%.2f", $0) }.joined(separator: " ") }
        var s = "trace       \(path), \(runs.count) policies (\(runs.map(\.name).joined(separator: ", "))), --overcommit \(overcommit ?? 1.5)\n"
        s += "\(runs.count) replays one after another  median \(String(format: "%.2f", median(serial))) s  (runs: \(f(serial)))\n"
        s += "compare --jobs 1             median \(String(format: "%.2f", median(oneJob))) s  (runs: \(f(oneJob)))\n"
        s += "compare --jobs 2             median \(String(format: "%.2f", median(parallel))) s  (runs: \(f(parallel)))\n"
        s += "speed-up    --jobs 2 vs one after another = \(String(format: "%.2f", median(serial) / median(parallel)))x, vs --jobs 1 = \(String(format: "%.2f", median(oneJob) / median(parallel)))x\n"
        writeStdout(s)
        if trace == nil && keep == nil { try? FileManager.default.removeItem(atPath: path) }
    }
}

extension BenchCommand {
    func runStats() throws {
        let path = try reportingErrors { try benchTrace() }
        var decode: [Double] = [], stats: [Double] = []
        var count: UInt64 = 0
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        for _ in 0..<runs {
            var t = now()
            count = try reportingErrors { try decodeAll(path) }
            decode.append(Double(now() - t) / 1e9)
            t = now()
            _ = try reportingErrors { try TraceStats.compute(path: path, interval: Micros.seconds(10)) }
            stats.append(Double(now() - t) / 1e9)
        }
        let md = median(decode), ms = median(stats)
        var s = "trace       \(path) (\(count) records)\n"
        s += "decode      median \(String(format: "%.3f", md)) s = \(String(format: "%.1f", Double(count) / md / 1e6)) M records/s  (runs: \(decode.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        s += "stats       median \(String(format: "%.3f", ms)) s = \(String(format: "%.1f", Double(count) / ms / 1e6)) M records/s  (runs: \(stats.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        s += "ratio       stats throughput / decode-only = \(String(format: "%.2f", md / ms))\n"
        writeStdout(s)
        if trace == nil && keep == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The page accesses of a replay: tracetool's rate, and the same accesses for a cache
    /// simulator (docs: scripts/bench-peer.sh).
    func runPeer() throws {
        let path = try reportingErrors { try benchTrace() }
        let (_, pol) = try PolicyOptions.parse(["--policy", policy]).resolve()
        var times: [Double] = []
        var accesses: UInt64 = 0
        var hostPages: UInt64 = 0
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let reader = try reportingErrors { try TraceFile.open(path) }
            let host = try HostConfig.resolve(header: reader.header, policy: pol, spec: HostSpec())
            let engine = try ReplayEngine(host: host, policy: pol)
            engine.checkEveryStep = false
            try Replayer().run(reader, engine: engine)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            accesses = engine.snapshot().vms.reduce(0) { $0 + $1.counters.accessedPages }
            hostPages = host.machinePages
        }
        if let out = oracleOut { try reportingErrors { try writeOracleGeneral(path, to: out) } }
        let m = median(times)
        var s = "trace       \(path), policy \(policy), host \(hostPages) pages\n"
        s += "tracetool   \(accesses) page accesses, replay median \(String(format: "%.3f", m)) s = \(String(format: "%.1f", Double(accesses) / m / 1e6)) M page accesses/s  (runs: \(times.map { String(format: "%.3f", $0) }.joined(separator: " ")))\n"
        if let out = oracleOut { s += "oracle      \(out): \(accesses) requests of 24 bytes, object id = VM << 32 | PPN, size 4096\n" }
        writeStdout(s)
        if trace == nil && keep == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    /// libCacheSim's oracleGeneral records (packed little-endian: u32 time in seconds, u64
    /// object id, u32 size, i64 next access or -1): one per page an access record touches.
    func writeOracleGeneral(_ path: String, to out: String) throws(TraceError) {
        let r = try TraceFile.open(path)
        let out = try AtomicOutput(path: out)
        var batch: [TraceRecord] = []
        var buf = [UInt8]()
        buf.reserveCapacity(1 << 22)
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { buf.append(contentsOf: $0) } }
        while try r.next(into: &batch) {
            for rec in batch where rec.kind == .read || rec.kind == .write {
                let t = UInt32(truncatingIfNeeded: rec.time.rawValue / 1_000_000)
                for k in 0..<UInt64(rec.count) {
                    le(t)
                    le(UInt64(rec.vm.rawValue) << 32 | (UInt64(rec.ppn.rawValue) + k))
                    le(UInt32(4096))
                    le(Int64(-1))
                }
                if buf.count >= 1 << 22 { try out.write(buf); buf.removeAll(keepingCapacity: true) }
            }
        }
        try out.write(buf)
        try out.commit()
    }
}
