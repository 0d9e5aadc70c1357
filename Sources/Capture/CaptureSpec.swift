import Foundation
import TraceFormat

/// Which guest a workload boots: the busybox initramfs with the guest program, or the Debian
/// server image (Sources/Capture/Server, built by scripts/server-image.sh).
public enum GuestImage: String, Sendable {
    case busybox
    case server
}

/// What a capture VM runs: the workloads of the guest program (Sources/Capture/Guest/ttguest.c)
/// on the busybox initramfs, or real Debian programs on the server image
/// (Sources/Capture/Server/workloads).
public enum GuestWorkload: String, CaseIterable, Sendable {
    /// Boots, then sleeps for good.
    case idle
    /// Writes, copies, reads and deletes files of 64 KiB-4 MiB in the guest's tmpfs.
    case fileio
    /// Sorts arrays of random 32-bit numbers (4 MiB up to 1/8 of memory), writing a quarter out.
    case sort
    /// Fills a region, then reads all of it and rewrites 5% of it every 100 ms, following a
    /// schedule of region sizes and durations.
    case toucher
    /// Cycles: one toucher phase, one sort, 30 file operations, 2 s of idleness.
    case mixed
    /// PostgreSQL serving pgbench (server image).
    case postgres
    /// nginx serving a generated static site to wrk (server image).
    case web
    /// gcc and make compiling GNU binutils (server image).
    case build
    /// A JVM running an in-memory key-value cache (server image).
    case java
    /// A numpy/pandas data job (server image).
    case python
    /// The server image's daemons (cron, PostgreSQL, nginx) with no load.
    case serverIdle = "server-idle"
    /// The user's own script and files, run on the server image.
    case custom

    public var image: GuestImage {
        switch self {
        case .idle, .fileio, .sort, .toucher, .mixed: .busybox
        case .postgres, .web, .build, .java, .python, .serverIdle, .custom: .server
        }
    }

    /// MiB of guest memory unless `mem=` says otherwise.
    public var defaultMebibytes: Int { image == .server ? 1024 : 256 }

    public var summary: String {
        switch self {
        case .idle: "boots, then sleeps"
        case .fileio: "writes, copies, reads and deletes files in tmpfs"
        case .sort: "sorts arrays of random numbers, writes part of each out"
        case .toucher:
            "fills a region and keeps touching it, following a schedule (schedule=MIB:SECONDS;MIB:SECONDS;...)"
        case .mixed: "cycles through a toucher phase, a sort, file operations and 2 s idle"
        case .postgres: "Debian: PostgreSQL 15 serving pgbench (TPC-B-like, 4 clients) on a 300 MiB database"
        case .web: "Debian: nginx serving a 3,000-page static site to wrk (Zipf popularity)"
        case .build: "Debian: gcc and make compiling GNU binutils, again and again"
        case .java: "Debian: OpenJDK running an in-memory key-value cache (heap 256-384 MiB)"
        case .python: "Debian: a numpy/pandas job on a million rows (join, group, sort, matrix product)"
        case .serverIdle: "Debian: cron, PostgreSQL and nginx started, no load"
        case .custom: "Debian: your own script (run=SCRIPT) with your files (files=DIR)"
        }
    }
}

/// One VM (or `count` identical VMs) of a capture, as `--vm` describes it.
public struct CaptureVMSpec: Equatable, Sendable {
    public var name: String
    public var workload: GuestWorkload
    public var mebibytes: Int
    public var seed: UInt64
    /// The toucher's schedule, `MIB:SECONDS[;MIB:SECONDS...]` (phases separated by `;` or `/`); nil for the default.
    public var schedule: String?
    /// Seconds of capture time before the VM powers on.
    public var start: Double
    /// Seconds of capture time at which the VM powers off; nil: it runs to the end of the
    /// capture, and the trace ends with it still on.
    public var stop: Double?
    /// The custom workload's script, copied into the guest as `run`.
    public var runScript: String?
    /// The custom workload's folder, copied into the guest as `files`.
    public var filesDirectory: String?

    public init(
        name: String, workload: GuestWorkload, mebibytes: Int = 256, seed: UInt64 = 1,
        schedule: String? = nil, start: Double = 0, stop: Double? = nil
    ) {
        self.name = name
        self.workload = workload
        self.mebibytes = mebibytes
        self.seed = seed
        self.schedule = schedule
        self.start = start
        self.stop = stop
    }

    public var pages: Int { mebibytes * 256 }

    /// Parses `WORKLOAD[,mem=MIB][,seed=N][,name=S][,count=N][,start=D][,stop=D][,schedule=MIB:D;...]`, D a
    /// duration with its unit (`30s`, `2m`; DurationText).
    /// `index` is the number of VMs declared before this one (names and default seeds use it).
    /// The schedule's phases are separated by `;` or `/` here, since `,` separates keys.
    public static func parse(_ text: String, index: Int) throws(CaptureError) -> [CaptureVMSpec] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let workload = GuestWorkload(rawValue: first) else {
            throw CaptureError(
                "--vm \(text): starts with a workload, one of \(GuestWorkload.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        var spec = CaptureVMSpec(
            name: "", workload: workload, mebibytes: workload.defaultMebibytes, seed: UInt64(index + 1))
        var count = 1
        var name: String?
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[1].isEmpty else { throw CaptureError("--vm \(text): \"\(p)\" is not KEY=VALUE") }
            let (k, v) = (kv[0], kv[1])
            switch k {
            case "mem":
                let digits = v.hasSuffix("M") || v.hasSuffix("m") ? String(v.dropLast()) : v
                guard let m = Int(digits), (80...2048).contains(m) else {
                    throw CaptureError(
                        "--vm \(text): mem is MiB, 80 to 2048 (the kernel needs 80 MiB to boot; the pc machine keeps up to 2 GiB below 4 GiB, in one piece)"
                    )
                }
                guard workload.image == .busybox || m >= 384 else {
                    throw CaptureError("--vm \(text): a Debian server guest needs mem=384 or more (MiB)")
                }
                spec.mebibytes = m
            case "seed":
                guard let s = UInt64(v) else { throw CaptureError("--vm \(text): seed is a non-negative integer") }
                spec.seed = s
            case "name":
                guard v.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                    throw CaptureError("--vm \(text): a name has letters, digits, - _ . only")
                }
                name = v
            case "count":
                guard let c = Int(v), (1...64).contains(c) else { throw CaptureError("--vm \(text): count is 1 to 64") }
                count = c
            case "start":
                do { spec.start = try DurationText.parse(v).seconds } catch {
                    throw CaptureError("--vm \(text): start \(error.description)")
                }
            case "stop":
                let s: Double
                do { s = try DurationText.parse(v).seconds } catch {
                    throw CaptureError("--vm \(text): stop \(error.description)")
                }
                guard s > 0 else { throw CaptureError("--vm \(text): stop must be later than 0s") }
                spec.stop = s
            case "run":
                guard workload == .custom else { throw CaptureError("--vm \(text): only custom takes run=") }
                guard Self.isRegularFile(v), FileManager.default.isReadableFile(atPath: v) else {
                    throw CaptureError("--vm \(text): run=\(v) is not a readable file")
                }
                spec.runScript = v
            case "files":
                guard workload == .custom else { throw CaptureError("--vm \(text): only custom takes files=") }
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: v, isDirectory: &isDir), isDir.boolValue else {
                    throw CaptureError("--vm \(text): files=\(v) is not a folder")
                }
                // Only files, folders and links go into the guest's disk: a device or a pipe
                // would be read without end.
                if let odd = (FileManager.default.enumerator(atPath: v)?.allObjects as? [String])?.sorted().first(
                    where: {
                        let type =
                            (try? FileManager.default.attributesOfItem(atPath: v + "/" + $0)[.type])
                            as? FileAttributeType
                        return type != .typeRegular && type != .typeDirectory && type != .typeSymbolicLink
                    })
                {
                    throw CaptureError(
                        "--vm \(text): files=\(v) holds \(odd), which is not a regular file, folder or link")
                }
                spec.filesDirectory = v
            case "schedule":
                guard let sched = Self.schedule(v) else {
                    throw CaptureError(
                        "--vm \(text): schedule is MIB:D phases separated by ; or /, D a duration (\(DurationText.forms))"
                    )
                }
                spec.schedule = sched
            default:
                throw CaptureError(
                    "--vm \(text): unknown key \"\(k)\" (mem, seed, name, count, start, stop, schedule, run, files)")
            }
        }
        if workload == .custom, spec.runScript == nil {
            throw CaptureError("--vm \(text): custom needs run=SCRIPT (and optionally files=DIR)")
        }
        if spec.schedule != nil, workload != .toucher, workload != .mixed {
            throw CaptureError("--vm \(text): only toucher and mixed take a schedule")
        }
        let base = name ?? "\(workload.rawValue)\(index)"
        return (0..<count).map { i in
            var s = spec
            s.name = count == 1 ? base : "\(base)-\(i + 1)"
            return s
        }
    }

    /// A regular file (not a device, pipe or folder), links followed.
    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// A schedule as typed (`16:5s;32:1m`, phases separated by `;` or `/`) as the guest reads it:
    /// `MIB:SECONDS` phases separated by `,` (`16:5,32:60`); nil when it is not one.
    static func schedule(_ s: String) -> String? {
        let phases = s.split(separator: ";", omittingEmptySubsequences: false).flatMap {
            $0.split(separator: "/", omittingEmptySubsequences: false)
        }
        guard !phases.isEmpty, phases.count <= 32 else { return nil }
        var out: [String] = []
        for ph in phases {
            let f = ph.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count == 2, let m = Int(f[0]), m >= 1, let d = try? DurationText.parse(String(f[1])), d.rawValue > 0
            else { return nil }
            out.append("\(m):\(formatSeconds(d.seconds))")
        }
        return out.joined(separator: ",")
    }

    /// The guest kernel's command line. The server image boots from the NVMe disk (its driver
    /// is built into the cloud kernel; virtio is a module) with /opt/tt/init as PID 1.
    /// OPENBLAS_CORETYPE reaches init's environment: OpenBLAS's CPU probe picks kernels that
    /// the qemu64 CPU model lacks.
    var kernelCommandLine: String {
        var s = "console=ttyS0 quiet panic=-1"
        if workload.image == .server {
            s += " root=/dev/nvme0n1 rootfstype=ext4 rw init=/opt/tt/init OPENBLAS_CORETYPE=Prescott"
        }
        s += " tt.workload=\(workload.rawValue) tt.seed=\(seed)"
        if let sc = schedule { s += " tt.schedule=\(sc)" }
        return s
    }

    /// How the header's capture facts describe this VM.
    var fact: String {
        var s = "\(workload.rawValue) seed=\(seed) mem=\(mebibytes)MiB"
        if let sc = schedule { s += " schedule=\(sc)" }
        if let r = runScript { s += " run=\((r as NSString).lastPathComponent)" }
        if let f = filesDirectory { s += " files=\((f as NSString).lastPathComponent)" }
        if start > 0 { s += " start=\(formatSeconds(start))s" }
        if let e = stop { s += " stop=\(formatSeconds(e))s" }
        return s
    }
}

/// Everything one capture needs.
public struct CaptureOptions: Sendable {
    public var vms: [CaptureVMSpec]
    /// Seconds of capture (the VMs' running time, not counting snapshot pauses).
    public var duration: Double
    /// Seconds between snapshots.
    public var interval: Double
    /// `-icount shift=N`: each guest instruction advances the guest clock by 2^N ns; nil: no
    /// `-icount`, the guest's clock follows the host's while the VM runs.
    public var icountShift: Int?
    /// Run the tt-access plugin (reads and writes recorded); false: content only, a page whose
    /// content changed counts as written (capture.accesses `interval-writes`).
    public var accessPlugin: Bool
    /// Server VMs read their workload's data set once before it starts (tt.prewarm=1).
    public var prewarm: Bool
    /// Where scripts/capture-setup.sh put the kernel, initramfs and plugin.
    public var assets: String
    public var output: String
    public var level: Int32
    /// Keep each VM's serial console log here, if set.
    public var consoleDirectory: String?
    /// Seconds every VM runs before the trace starts (nothing of it is recorded but the memory
    /// it leaves, at the first snapshot).
    public var warmup: Double

    public init(
        vms: [CaptureVMSpec], duration: Double, interval: Double, icountShift: Int? = 3,
        assets: String, output: String, level: Int32 = 19, consoleDirectory: String? = nil,
        warmup: Double = 0, accessPlugin: Bool = true, prewarm: Bool = false
    ) {
        self.accessPlugin = accessPlugin
        self.prewarm = prewarm
        self.vms = vms
        self.duration = duration
        self.interval = interval
        self.icountShift = icountShift
        self.assets = assets
        self.output = output
        self.level = level
        self.consoleDirectory = consoleDirectory
        self.warmup = warmup
    }

    public func check() throws(CaptureError) {
        guard !vms.isEmpty else { throw CaptureError("no VMs: give at least one --vm") }
        guard vms.count <= 64 else { throw CaptureError("\(vms.count) VMs; a capture runs at most 64") }
        try checkTiming(interval: interval, duration: duration, level: level)
        guard warmup >= 0, warmup <= 86_400, warmup.isFinite else {
            throw CaptureError("--warmup must be 0 to 86400 s")
        }
        if let n = icountShift, !(0...10).contains(n) {
            throw CaptureError("--icount-shift must be 0 to 10, or off")
        }
        if prewarm, !vms.contains(where: { $0.workload.image == .server }) {
            throw CaptureError("--prewarm is for the Debian server workloads; no --vm runs one")
        }
        var names = Set<String>()
        for v in vms {
            guard names.insert(v.name).inserted else { throw CaptureError("two VMs are named \(v.name)") }
            guard v.start < duration else {
                throw CaptureError("VM \(v.name) starts at \(v.start) s, after the capture ends")
            }
            if let e = v.stop {
                guard e > v.start, e <= duration else {
                    throw CaptureError(
                        "VM \(v.name) stops at \(e) s; it must be after its start and no later than the end")
                }
            }
        }
    }
}

/// The checks every capture makes of its clock and output options.
func checkTiming(interval: Double, duration: Double, level: Int32) throws(CaptureError) {
    guard interval >= 0.1, interval.isFinite else { throw CaptureError("--interval must be at least 0.1 s") }
    guard duration >= interval, duration <= 86_400 else {
        throw CaptureError("--duration must be between --interval and 86400 s")
    }
    guard (1...19).contains(level) else { throw CaptureError("--level must be between 1 and 19") }
}

/// Seconds of the host's monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? String(Int(s)) : String(s)
}
