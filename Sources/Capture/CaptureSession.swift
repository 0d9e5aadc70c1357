#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CXXHash
import TraceFormat

/// Set by SIGINT/SIGTERM during a capture; the snapshot loop stops and cleans up.
nonisolated(unsafe) var interrupted: sig_atomic_t = 0

/// Catches SIGINT and SIGTERM (setting `interrupted`) until the returned function restores the
/// handlers that were there: a capture stops at its next wait and cleans up.
func catchInterrupts() -> () -> Void {
    interrupted = 0
    let oldInt = signal(SIGINT) { _ in interrupted = 1 }
    let oldTerm = signal(SIGTERM) { _ in interrupted = 1 }
    return {
        signal(SIGINT, oldInt)
        signal(SIGTERM, oldTerm)
    }
}

/// Runs a capture: starts the VMs under QEMU's TCG emulator (paused), powers each on at its start
/// time, and every `interval` seconds of running time stops them all (QMP `stop`), records each
/// VM's accesses and content changes, and lets them go on (QMP `cont`). Writes one binary trace.
///
/// VMs still running when the capture ends get no power-off record: the trace is a window onto
/// running machines. Times in the trace are the nominal snapshot times k·interval of the VMs' running time; the time
/// spent reading memory while they are stopped is not counted.
public final class CaptureSession {
    public let options: CaptureOptions
    private let log: (String) -> Void

    public init(options: CaptureOptions, log: @escaping (String) -> Void) throws(CaptureError) {
        try options.check()
        self.options = options
        self.log = log
    }

    /// The files scripts/capture-setup.sh leaves in the assets directory.
    struct Assets {
        let kernel, initramfs, plugin: String
        let kernelVersion, busyboxVersion, qemuVersion, initramfsHash: String
        /// The Debian server image and what it holds (only when a VM runs a server workload).
        let serverImage: String?
        let serverImageHash, serverPackages: String?

        init(directory: String, server: Bool, plugin usesPlugin: Bool) throws(CaptureError) {
            kernel = directory + "/vmlinuz"
            initramfs = directory + "/initramfs.cpio.gz"
            plugin = directory + "/tt-access.so"
            for f in [kernel, initramfs, directory + "/kernel.version"] + (usesPlugin ? [plugin] : [])
            where access(f, R_OK) != 0 {
                throw CaptureError("\(f) is missing: run scripts/capture-setup.sh first (or pass --assets)")
            }
            func firstLine(_ path: String) -> String {
                ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").first.map(
                    String.init) ?? "unknown"
            }
            kernelVersion = firstLine(directory + "/kernel.version")
            busyboxVersion = firstLine(directory + "/busybox.version")
            initramfsHash = firstLine(directory + "/initramfs.sha256")
            if server {
                let img = directory + "/server/root.img"
                for f in [img, directory + "/server/image.sha256", directory + "/server/versions.txt"]
                where access(f, R_OK) != 0 {
                    throw CaptureError(
                        "\(f) is missing: run scripts/capture-setup.sh --server first (it builds the Debian image)")
                }
                serverImage = img
                serverImageHash = firstLine(directory + "/server/image.sha256")
                serverPackages = Self.packageSummary(directory + "/server/versions.txt")
            } else {
                serverImage = nil
                serverImageHash = nil
                serverPackages = nil
            }
            guard let q = CaptureSession.run(["qemu-system-x86_64", "--version"]) else {
                throw CaptureError("qemu-system-x86_64 is not installed: run scripts/capture-setup.sh first")
            }
            qemuVersion = q.split(separator: "\n").first.map(String.init) ?? q
        }

        /// The versions of the packages the server workloads run, from versions.txt
        /// (`PACKAGE VERSION` per line), and how many packages the image holds.
        static func packageSummary(_ path: String) -> String {
            let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
            let wanted = [
                "postgresql-15", "nginx-light", "wrk", "gcc-12", "binutils-source", "openjdk-17-jre-headless",
                "python3", "python3-numpy", "python3-pandas", "libopenblas0-pthread", "base-files",
            ]
            var found: [String: String] = [:]
            for l in lines {
                let f = l.split(separator: " ", maxSplits: 1)
                if f.count == 2, wanted.contains(String(f[0])) { found[String(f[0])] = String(f[1]) }
            }
            let named = wanted.compactMap { p in found[p].map { "\(p) \($0)" } }
            return "\(lines.count) packages (Debian bookworm); " + named.joined(separator: ", ")
        }
    }

    /// One running VM.
    private final class Guest {
        let spec: CaptureVMSpec
        let id: VMID
        let memory: GuestMemory
        let process: Process
        let qmpPath: String
        let consolePath: String
        let logPath: String
        var qmp: QMPClient?
        var on = false
        var off = false
        var removed = false
        /// The guest powered itself off (QEMU exited with status 0 while running).
        var poweredOff = false

        init(
            spec: CaptureVMSpec, id: VMID, memory: GuestMemory, process: Process, qmpPath: String,
            consolePath: String, logPath: String
        ) {
            self.spec = spec
            self.id = id
            self.memory = memory
            self.process = process
            self.qmpPath = qmpPath
            self.consolePath = consolePath
            self.logPath = logPath
        }
    }

    /// Captures and returns the written trace's footer. On any failure nothing is left behind
    /// but the error (and, if asked, the console logs).
    public func run() throws(CaptureError) -> TraceFooter {
        // The output's folder must take a file now, not after the boot and the warm-up.
        do { try AtomicOutput(path: options.output).abandon() } catch { throw CaptureError(error.description) }
        let assets = try Assets(
            directory: options.assets, server: options.vms.contains { $0.workload.image == .server },
            plugin: options.accessPlugin)
        removeStaleFiles()
        let work = try makeWorkDirectory()
        var guests: [Guest] = []
        var writer: BinaryTraceWriter?
        var succeeded = false
        let restoreSignals = catchInterrupts()
        defer {
            restoreSignals()
            for g in guests { shutDown(g) }
            if let w = writer, !succeeded { w.abandon() }
            if let dir = options.consoleDirectory {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for g in guests { copyFile(g.consolePath, to: dir + "/" + g.spec.name + ".console") }
            }
            keepLogs(work: work, guests: guests, failed: !succeeded)
        }

        for (i, spec) in options.vms.enumerated() {
            guests.append(try launch(spec, id: VMID(UInt32(i)), assets: assets, work: work))
        }
        for g in guests { g.qmp = try connect(g) }
        if options.warmup > 0 { try warmUp(guests) }

        let header = TraceHeader(
            vms: guests.map { VMDecl(id: $0.id.rawValue, name: $0.spec.name, pages: UInt64($0.spec.pages)) },
            capture: facts(assets: assets))
        let w: BinaryTraceWriter
        do { w = try BinaryTraceWriter(path: options.output, header: header, level: options.level) } catch {
            throw CaptureError(error.description)
        }
        writer = w

        var records: [TraceRecord] = []
        records.reserveCapacity(1 << 16)
        func flush() throws(CaptureError) {
            do { for r in records { try w.append(r) } } catch { throw CaptureError(error.description) }
            records.removeAll(keepingCapacity: true)
        }

        let snapshots = Int((options.duration / options.interval).rounded(.up))
        var running = false
        var runClock = 0.0  // seconds of running time before the current run span
        var spanStart = 0.0
        var worstLateness = 0.0
        var totalRecords = 0
        // Each VM's clock when it entered the trace, and the running time then.
        var clockIn: [Double?] = Array(repeating: nil, count: guests.count)
        var runIn: [Double] = Array(repeating: 0, count: guests.count)
        let wallStart = now()
        for k in 0...snapshots {
            let target = min(Double(k) * options.interval, options.duration)
            if running {
                while runClock + (now() - spanStart) < target {
                    if interrupted != 0 { throw CaptureError("interrupted; nothing was written") }
                    let left = target - runClock - (now() - spanStart)
                    usleep(useconds_t(max(1_000, min(100_000, left * 1e6))))
                }
                for g in guests where g.on && !g.off && !g.poweredOff { try command(g, "stop") }
                let elapsed = runClock + (now() - spanStart)
                worstLateness = max(worstLateness, elapsed - target)
                runClock = target
                running = false
            }
            let time = Micros.seconds(target)
            for g in guests where g.on && !g.off {
                g.memory.snapshot(vm: g.id, time: time, into: &records)
                // A guest that powered itself off (its workload ended) leaves the trace here.
                if g.poweredOff {
                    records.append(TraceRecord(time: time, vm: g.id, kind: .powerOff))
                    g.off = true
                    log(
                        "capture: VM \(g.spec.name) powered itself off before \(formatSeconds(target)) s (its workload ended; console: \"\(lastLine(of: g.consolePath) ?? "")\"); OFF recorded"
                    )
                    shutDown(g)
                }
            }
            let last = k == snapshots
            for g in guests {
                if g.on, !g.off, let e = g.spec.stop, e <= target {
                    records.append(TraceRecord(time: time, vm: g.id, kind: .powerOff))
                    g.off = true
                    shutDown(g)
                } else if !last, !g.on, g.spec.start <= target {
                    records.append(TraceRecord(time: time, vm: g.id, kind: .powerOn))
                    g.on = true
                    // A warmed-up VM enters the trace with the memory its warm-up left.
                    if options.warmup > 0 { g.memory.snapshot(vm: g.id, time: time, into: &records) }
                    clockIn[Int(g.id.rawValue)] = guestClock(g)
                    runIn[Int(g.id.rawValue)] = target
                }
            }
            totalRecords += records.count
            try flush()
            if last { break }
            if k % max(1, Int((10 / options.interval).rounded())) == 0 {
                log(
                    "capture: \(formatSeconds(target)) of \(formatSeconds(options.duration)) s, \(guests.filter { $0.on }.count) VMs on, \(totalRecords) records"
                )
            }
            if options.interval >= 30 || k % max(1, Int((60 / options.interval).rounded())) == 0 {
                log("capture:   \(memoryAndClocks(guests.filter { $0.on }, count: false))")
            }
            for g in guests where g.on && !g.off { try command(g, "cont") }
            spanStart = now()
            running = true
        }
        let footer: TraceFooter
        do { footer = try w.finish() } catch { throw CaptureError(error.description) }
        succeeded = true
        log(
            String(
                format: "capture: done, %llu records; snapshots were at most %.0f ms late", footer.records,
                worstLateness * 1000))
        let unseen = guests.map { "\($0.spec.name) \($0.memory.unseenWrites)" }.joined(separator: ", ")
        if options.accessPlugin {
            log(
                "capture: pages whose content changed with no guest store (device DMA, MMU bits), recorded as W: \(unseen)"
            )
        }
        logGuestTime(guests, clockIn: clockIn, runIn: runIn, wallSeconds: now() - wallStart)
        return footer
    }

    // MARK: - Pieces

    /// After a failure, keeps the VMs' console and QEMU logs that say something (and only them)
    /// and names them; otherwise (success, an interrupt, or logs that are all empty, or copied to
    /// --consoles) deletes the working folder.
    private func keepLogs(work: String, guests: [Guest], failed: Bool) {
        let fm = FileManager.default
        var said: [String] = []
        if failed && interrupted == 0 && options.consoleDirectory == nil {
            for g in guests {
                for f in [g.consolePath, g.logPath] {
                    if let a = try? fm.attributesOfItem(atPath: f), (a[.size] as? UInt64 ?? 0) > 0 { said.append(f) }
                }
            }
        }
        if said.isEmpty {
            try? fm.removeItem(atPath: work)
            return
        }
        for name in (try? fm.contentsOfDirectory(atPath: work)) ?? [] where !said.contains(work + "/" + name) {
            try? fm.removeItem(atPath: work + "/" + name)
        }
        log("capture: the VMs' logs are kept: \(said.joined(separator: " "))")
    }

    /// Runs every VM for `options.warmup` seconds of running time, then stops them all. Their
    /// accesses and content stay in the plugin's map and the RAM file; each VM's first snapshot,
    /// right after its power-on record, turns them into the memory it holds when the trace
    /// starts. Nothing of the warm-up itself (its order or timing) is recorded.
    private func warmUp(_ guests: [Guest]) throws(CaptureError) {
        log("capture: warm-up, \(formatSeconds(options.warmup)) s of running time before the trace starts")
        for g in guests { try command(g, "cont") }
        let start = now()
        var nextReport = 60.0
        while now() - start < options.warmup {
            if interrupted != 0 { throw CaptureError("interrupted; nothing was written") }
            usleep(useconds_t(max(1_000, min(100_000, (options.warmup - (now() - start)) * 1e6))))
            if now() - start >= nextReport, now() - start < options.warmup {
                nextReport += 60
                log("capture: warm-up \(Int(now() - start)) s: \(memoryAndClocks(guests, count: true))")
            }
        }
        for g in guests { try command(g, "stop") }
        warmupWallSeconds = now() - start
        warmupClocks = guests.map { guestClock($0) }
        log("capture: warm-up done: \(memoryAndClocks(guests, count: true))")
    }

    /// Logs how far each guest's clock advanced over its running time in the trace, and the
    /// guest seconds the capture got per host-core second of wall time (snapshots included).
    private func logGuestTime(_ guests: [Guest], clockIn: [Double?], runIn: [Double], wallSeconds: Double) {
        var total = 0.0
        var known = true
        var parts: [String] = []
        for (i, g) in guests.enumerated() {
            let end = g.off ? nil : guestClock(g)
            guard let a = clockIn[i], let b = end else {
                known = false
                parts.append("\(g.spec.name) ?")
                continue
            }
            total += b - a
            let run = min(options.duration, g.spec.stop ?? options.duration) - runIn[i]
            parts.append(
                "\(g.spec.name) \(Int(b - a)) s in \(Int(run)) s (clock \(Int(b)) s at the end)")
        }
        log("capture: guest clocks over the trace: " + parts.joined(separator: "; "))
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if known, wallSeconds > 0 {
            log(
                String(
                    format:
                        "capture: %.0f guest seconds in %.0f s of wall time on %d cores: %.3f guest seconds per host-core second",
                    total, wallSeconds, cores, total / (wallSeconds * Double(cores))))
        }
    }

    /// Wall seconds the warm-up took, and each VM's clock at its end.
    private var warmupWallSeconds = 0.0
    private var warmupClocks: [Double?] = []

    /// The guest's own clock, in seconds since the RTC's base (QOM `rtc-time` of the machine, whole
    /// seconds; the RTC follows the VM's clock), or nil when QEMU does not say.
    private func guestClock(_ g: Guest) -> Double? {
        guard let q = g.qmp, !g.poweredOff, g.process.isRunning,
            let r = try? q.execute("qom-get", arguments: ["path": "/machine", "property": "rtc-time"])
                as? [String: Any],
            let y = r["tm_year"] as? Int, let mo = r["tm_mon"] as? Int, let d = r["tm_mday"] as? Int,
            let h = r["tm_hour"] as? Int, let mi = r["tm_min"] as? Int, let sec = r["tm_sec"] as? Int
        else { return nil }
        var t = tm()
        t.tm_year = Int32(y)
        t.tm_mon = Int32(mo)
        t.tm_mday = Int32(d)
        t.tm_hour = Int32(h)
        t.tm_min = Int32(mi)
        t.tm_sec = Int32(sec)
        return Double(timegm(&t) - Self.rtcBase)
    }

    /// One log line's worth: memory in use (pages not all zero) and guest clocks, per VM.
    private func memoryAndClocks(_ guests: [Guest], count: Bool) -> String {
        guests.filter { !$0.off }.map { g in
            let pages = count ? g.memory.countNonZeroPages() : g.memory.nonZeroPages
            let clock = guestClock(g).map { "clock \(Int($0)) s" } ?? "clock ?"
            return "\(g.spec.name) \(String(format: "%.1f", Double(pages) / 256)) MiB in use, \(clock)"
        }.joined(separator: "; ")
    }

    /// QEMU's clock settings, passed to every VM and named in the header's facts.
    private static let rtc = "base=2026-01-01T00:00:00,clock=vm"
    private static let rtcBase = 1_767_225_600
    private var icount: String? { options.icountShift.map { "shift=\($0),sleep=off" } }

    private func facts(assets: Assets) -> CaptureFacts {
        var d: [String: String] = [
            "qemu": assets.qemuVersion,
            "kernel": assets.kernelVersion,
            "interval": formatSeconds(options.interval) + " s",
            "duration": formatSeconds(options.duration) + " s",
            "icount": icount
                ?? "off: each guest's clock follows the host's while the VMs run (it stops while they are stopped for a snapshot); a guest does as much work per second of its clock as its share of the host's cores lets it",
            "accesses": options.accessPlugin
                ? "guest-physical pages loaded, stored (W) or executed (R) by the guest (QEMU TCG plugin tt-access); not page walks"
                : "content only (no access plugin): a page whose content changed since the last snapshot is recorded as written (W); reads, and writes that left a page as it was, are not recorded",
            "dma": options.accessPlugin
                ? "pages whose content changed in an interval with no guest store (device DMA such as disk reads into the page cache, the MMU's accessed and dirty bits, firmware loading) are recorded as written (W) with their content"
                : "a page a device wrote (DMA, such as a disk read into the page cache) is recorded like any other changed page",
            "content":
                "every page hashed at each snapshot; pages changed or written since the last one: C (non-zero) or Z",
            "clock": "VM running time; records are stamped at the nominal snapshot times",
            "machine": "pc, 1 vCPU, cpu qemu64, accel tcg, rtc \(Self.rtc.replacingOccurrences(of: ",", with: " "))",
        ]
        for (i, v) in options.vms.enumerated() {
            d["vm\(i)"] = "\(v.name): \(v.fact)"
        }
        if options.vms.contains(where: { $0.workload.image == .busybox }) {
            d["busybox"] = assets.busyboxVersion
            d["initramfs"] = "sha256 \(assets.initramfsHash) (busybox initramfs, Sources/Capture/Guest)"
        }
        if let h = assets.serverImageHash, let p = assets.serverPackages {
            d["image"] = "sha256 \(h) (Debian server image, ext4, Sources/Capture/Server, scripts/server-image.sh)"
            d["packages"] = p
            d["disk"] =
                "server VMs boot the image from an emulated NVMe disk (QEMU snapshot=on: the image never changes)"
        }
        for (i, v) in options.vms.enumerated() {
            if let run = v.runScript { d["vm\(i).run"] = "xxh3 " + fileHash(run) }
            if let dir = v.filesDirectory { d["vm\(i).files"] = "xxh3 " + directoryHash(dir) }
        }
        if options.warmup > 0 {
            d["warmup"] =
                formatSeconds(options.warmup)
                + " s of running time before the trace starts (\(Int(warmupWallSeconds.rounded())) s of wall time); the boot and the workload's start are not recorded: each VM's first snapshot (at its power-on) holds the memory the warm-up left"
            for (i, c) in warmupClocks.enumerated() {
                d["vm\(i).clockAtStart"] =
                    c.map { "\(Int($0)) s of the guest's own clock when the trace starts" } ?? "unknown"
            }
        }
        if options.prewarm {
            d["prewarm"] =
                "server VMs read their workload's data set once (every file of it, into the page cache) before the workload starts"
        }
        var facts = CaptureFacts(
            source: "qemu-tcg", hash: .init(algorithm: "xxh3-64", bits: 64),
            accesses: options.accessPlugin ? "interval" : "interval-writes", details: d)
        facts.compression = PageCompressor.name
        return facts
    }

    /// Deletes RAM and map files in /dev/shm left by captures whose process no longer exists
    /// (killed with SIGKILL, say): `tracetool-PID-TAG-N.ram` / `.acc`.
    private func removeStaleFiles() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm") else { return }
        for name in names.sorted()
        where name.hasPrefix("tracetool-") && (name.hasSuffix(".ram") || name.hasSuffix(".acc")) {
            let fields = name.dropFirst("tracetool-".count).split(separator: "-")
            guard fields.count >= 2, let pid = Int32(fields[0]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink("/dev/shm/" + name)
                log("capture: removed /dev/shm/\(name), left by an earlier capture (process \(pid) is gone)")
            }
        }
    }

    private func makeWorkDirectory() throws(CaptureError) -> String {
        var template = Array("/tmp/tracetool-capture.XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard p != nil else {
            throw CaptureError("cannot make a working directory in /tmp: \(String(cString: strerror(errno)))")
        }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    private func launch(_ spec: CaptureVMSpec, id: VMID, assets: Assets, work: String) throws(CaptureError) -> Guest {
        // The work folder's random suffix keeps two captures of one process apart.
        let tag = work.split(separator: ".").last.map(String.init) ?? "0"
        let stem = "/dev/shm/tracetool-\(getpid())-\(tag)-\(id.rawValue)"
        let memory = try GuestMemory(ramPath: stem + ".ram", mapPath: stem + ".acc", pages: spec.pages)
        let qmpPath = "\(work)/vm\(id.rawValue).qmp"
        let consolePath = "\(work)/vm\(id.rawValue).console"
        let logPath = "\(work)/vm\(id.rawValue).log"
        let mem = "\(spec.mebibytes)M"
        let args =
            [
                "-S", "-nodefaults", "-nographic", "-no-reboot", "-no-user-config",
                "-accel", "tcg", "-M", "pc,memory-backend=ram0", "-cpu", "qemu64", "-smp", "1", "-m", mem,
                "-object", "memory-backend-file,id=ram0,size=\(mem),mem-path=\(memory.ramPath),share=on",
                "-rtc", Self.rtc,
                "-kernel", assets.kernel,
                "-append",
                spec.kernelCommandLine + (options.prewarm && spec.workload.image == .server ? " tt.prewarm=1" : ""),
                "-serial", "file:\(consolePath)",
                "-qmp", "unix:\(qmpPath),server=on,wait=off",
            ]
            + (icount.map { ["-icount", $0] } ?? [])
            + (options.accessPlugin
                ? ["-plugin", "\(assets.plugin),map=\(memory.mapPath),ram=\(memory.ramPath),pages=\(spec.pages)"] : [])
        var disks: [String] = []
        if spec.workload.image == .server, let img = assets.serverImage {
            // snapshot=on: the guest's writes go to a temporary overlay QEMU makes in $TMPDIR
            // (the work folder), and the image stays as it was built.
            disks += [
                "-drive", "file=\(img),if=none,id=root,format=raw,snapshot=on",
                "-device", "nvme,drive=root,serial=ttroot",
            ]
            if spec.workload == .custom {
                let custom = try makeCustomDisk(spec, path: "\(work)/vm\(id.rawValue)-custom.img")
                disks += [
                    "-drive", "file=\(custom),if=none,id=custom,format=raw,snapshot=on",
                    "-device", "nvme,drive=custom,serial=ttcustom",
                ]
            }
        } else {
            disks += ["-initrd", assets.initramfs]
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["qemu-system-x86_64"] + args + disks
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = work
        p.environment = env
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let logHandle = FileHandle(forWritingAtPath: logPath)
        p.standardOutput = logHandle
        p.standardError = logHandle
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            memory.remove()
            throw CaptureError("cannot start qemu-system-x86_64: \(error)")
        }
        return Guest(
            spec: spec, id: id, memory: memory, process: p, qmpPath: qmpPath, consolePath: consolePath, logPath: logPath
        )
    }

    /// The custom workload's second disk: an ext4 image (label ttcustom) holding the script as
    /// `run` and the folder as `files`, made with `mke2fs -d` (no mounting) with its clock fixed.
    private func makeCustomDisk(_ spec: CaptureVMSpec, path: String) throws(CaptureError) -> String {
        let stage = path + ".d"
        let fm = FileManager.default
        defer { try? fm.removeItem(atPath: stage) }
        var bytes: UInt64 = 0
        do {
            try fm.createDirectory(atPath: stage, withIntermediateDirectories: true)
            try fm.copyItem(atPath: spec.runScript!, toPath: stage + "/run")
            chmod(stage + "/run", 0o755)
            if let dir = spec.filesDirectory { try fm.copyItem(atPath: dir, toPath: stage + "/files") }
            if let e = fm.enumerator(atPath: stage) {
                while let f = e.nextObject() as? String {
                    bytes += (try? fm.attributesOfItem(atPath: stage + "/" + f)[.size] as? UInt64 ?? 0) ?? 0
                }
            }
        } catch {
            throw CaptureError(
                "VM \(spec.name): cannot stage run= and files= for the guest: \(error.localizedDescription)")
        }
        let mib = max(64, Int(bytes * 2 >> 20) + 32)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mke2fs", "-q", "-t", "ext4", "-L", "ttcustom", "-d", stage, path, "\(mib)M"]
        var env = ProcessInfo.processInfo.environment
        env["E2FSPROGS_FAKE_TIME"] = "1767225600"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        do { try p.run() } catch {
            throw CaptureError("VM \(spec.name): cannot run mke2fs (Debian package e2fsprogs): \(error)")
        }
        let msg = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CaptureError(
                "VM \(spec.name): mke2fs failed making the custom disk: \(msg.split(separator: "\n").last ?? "")")
        }
        return path
    }

    private func connect(_ g: Guest) throws(CaptureError) -> QMPClient {
        let deadline = now() + 30
        while true {
            if access(g.qmpPath, F_OK) == 0, let c = try? QMPClient(path: g.qmpPath) { return c }
            if !g.process.isRunning {
                throw CaptureError(
                    "QEMU for VM \(g.spec.name) exited: \(lastLine(of: g.logPath) ?? "no message (see \(g.logPath))")")
            }
            if now() > deadline {
                throw CaptureError("QEMU for VM \(g.spec.name) did not open its QMP socket within 30 s")
            }
            usleep(20_000)
        }
    }

    /// A QMP command; if it fails because QEMU is gone, the error says so and quotes the VM's
    /// console (a guest that cannot boot makes QEMU exit, since it runs with -no-reboot).
    /// A guest that powers itself off during the capture (QEMU exits with status 0)
    /// is marked `poweredOff` instead, once it had powered on: the capture records `OFF` for it.
    private func command(_ g: Guest, _ name: String) throws(CaptureError) {
        do { try g.qmp!.execute(name) } catch {
            let deadline = now() + 2
            while g.process.isRunning && now() < deadline { usleep(10_000) }
            guard !g.process.isRunning else { throw error }
            if g.on, g.process.terminationReason == .exit, g.process.terminationStatus == 0 {
                g.poweredOff = true
                return
            }
            throw CaptureError(
                "VM \(g.spec.name): QEMU exited (status \(g.process.terminationStatus)) before \(name); last console line: \"\(lastLine(of: g.consolePath) ?? "")\""
            )
        }
    }

    private func shutDown(_ g: Guest) {
        if g.process.isRunning {
            if g.qmp == nil { g.process.terminate() }
            g.qmp?.quit()
            let deadline = now() + 5
            while g.process.isRunning && now() < deadline { usleep(10_000) }
            if g.process.isRunning { g.process.terminate() }
            g.process.waitUntilExit()
        }
        g.qmp = nil
        if !g.removed {
            g.memory.remove()
            g.removed = true
        }
    }

    /// The last non-empty line of a log or console file, printable ASCII only, at most 120
    /// characters; nil if there is none.
    private func lastLine(of path: String) -> String? {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).last else { return nil }
        return String(
            String(line.unicodeScalars.filter { $0.value >= 32 && $0.value < 127 }.map(Character.init)).suffix(120))
    }

    private func copyFile(_ from: String, to: String) {
        if let d = FileManager.default.contents(atPath: from) {
            _ = FileManager.default.createFile(atPath: to, contents: d)
        }
    }

    private func now() -> Double { monotonicSeconds() }

    /// XXH3-64 of a file's bytes, in hex ("unreadable" if it cannot be read).
    private func fileHash(_ path: String) -> String {
        guard let d = FileManager.default.contents(atPath: path) else { return "unreadable" }
        return String(d.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }, radix: 16)
    }

    /// XXH3-64 over a folder's files: each relative path and its bytes, in sorted path order.
    private func directoryHash(_ dir: String) -> String {
        let fm = FileManager.default
        var names: [String] = []
        if let e = fm.enumerator(atPath: dir) { while let f = e.nextObject() as? String { names.append(f) } }
        var acc: [UInt8] = []
        for n in names.sorted() {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir + "/" + n, isDirectory: &isDir), !isDir.boolValue else { continue }
            acc += Array(n.utf8) + [0]
            acc += Array(fileHash(dir + "/" + n).utf8) + [0]
        }
        return String(acc.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }, radix: 16)
    }

    /// Runs a command and returns its standard output, or nil if it cannot run or fails.
    static func run(_ argv: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
