#if canImport(Glibc)
import Glibc
#endif
import CXXHash
import Foundation
import TraceFormat

/// Everything an attach capture needs.
public struct AttachOptions: Sendable {
    public var vms: [AttachSpec]
    public var duration: Double
    public var interval: Double
    public var output: String
    public var level: Int32
    /// Pause each VM (QMP `stop`/`cont`) while it is read, so each snapshot is exact.
    public var consistent: Bool
    /// Record reads from the host's idle page tracking (`PageIdleBitmap`).
    public var trackReads: Bool
    /// The idle bitmap's path (the host's unless a test gives a file of its own).
    public var pageIdlePath: String

    public init(
        vms: [AttachSpec], duration: Double, interval: Double, output: String, level: Int32 = 19,
        consistent: Bool = false, trackReads: Bool = false, pageIdlePath: String = PageIdleBitmap.hostPath
    ) {
        self.trackReads = trackReads
        self.pageIdlePath = pageIdlePath
        self.vms = vms
        self.duration = duration
        self.interval = interval
        self.output = output
        self.level = level
        self.consistent = consistent
    }

    public func check() throws(CaptureError) {
        guard !vms.isEmpty else {
            throw CaptureError("no VMs: give --attach PID (or --attach-all with QEMU processes running)")
        }
        guard vms.count <= 64 else { throw CaptureError("\(vms.count) VMs; a capture attaches to at most 64") }
        try checkTiming(interval: interval, duration: duration, level: level)
        var pids = Set<Int32>()
        for v in vms {
            guard pids.insert(v.pid).inserted else { throw CaptureError("process \(v.pid) is attached twice") }
            if consistent, v.qmp == nil {
                throw CaptureError(
                    "--consistent pauses each VM through QMP: give --attach \(v.pid),qmp=SOCKET (QEMU's -qmp unix:SOCKET,server=on,wait=off)"
                )
            }
        }
    }
}

/// One attached VM: its RAM through /proc/PID/mem (read-only), its pagemap, and the content
/// hash of every page at the previous snapshot.
final class AttachedVM {
    let spec: AttachSpec
    let process: QEMUProcess
    let id: VMID
    var name: String
    private let memFD: Int32
    private let pagemapFD: Int32
    private var qmp: QMPClient?
    /// Content hash at the last snapshot (0 = zero page); meaningful where `seen`.
    private var hashes: [UInt64]
    private var seen: [Bool]
    /// The compressed size of each page's content, as last read.
    private var sizes: [UInt32]
    private var pagemap: [UInt64]
    private var buffer: UnsafeMutableRawPointer
    private static let readPages = 256
    private let compressor = PageCompressor()
    var gone = false
    /// Whether the host kernel keeps soft-dirty bits (CONFIG_MEM_SOFT_DIRTY): decided at the
    /// first snapshot (a page a process has just faulted in is soft-dirty until its
    /// clear_refs is written, so a backed page without the bit means the kernel has none).
    /// Without them, written pages are those whose content changed, and nothing is written to
    /// clear_refs.
    private(set) var softDirty: Bool?
    /// Pages whose content changed with no soft-dirty bit (should not happen: every write by the
    /// guest, QEMU or the kernel on QEMU's behalf sets it), recorded as writes.
    private(set) var unseenWrites = 0
    /// Pages the host had swapped out at the last snapshot (their content is not read: reading
    /// would swap them in).
    private(set) var swappedPages = 0
    private(set) var snapshotSeconds: [Double] = []
    private(set) var pauseSeconds: [Double] = []

    init(spec: AttachSpec, id: VMID) throws(CaptureError) {
        self.spec = spec
        self.id = id
        process = try QEMUProcess.inspect(pid: spec.pid)
        name = spec.name ?? QEMUProcess.guestName(commandLine: process.commandLine) ?? "qemu-\(spec.pid)"
        memFD = open("/proc/\(spec.pid)/mem", O_RDONLY)
        guard memFD >= 0 else {
            throw CaptureError(
                "process \(spec.pid): cannot open /proc/\(spec.pid)/mem: \(String(cString: strerror(errno))) (attach needs the same user as the QEMU process, or root)"
            )
        }
        pagemapFD = open("/proc/\(spec.pid)/pagemap", O_RDONLY)
        guard pagemapFD >= 0 else {
            close(memFD)
            throw CaptureError(
                "process \(spec.pid): cannot open /proc/\(spec.pid)/pagemap: \(String(cString: strerror(errno)))")
        }
        hashes = Array(repeating: 0, count: process.pages)
        seen = Array(repeating: false, count: process.pages)
        sizes = Array(repeating: 0, count: process.pages)
        pagemap = Array(repeating: 0, count: process.pages)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.readPages * 4096, alignment: 4096)
        if let q = spec.qmp { qmp = try QMPClient(path: q) }
    }

    deinit {
        close(memFD)
        close(pagemapFD)
        buffer.deallocate()
    }

    var alive: Bool { kill(spec.pid, 0) == 0 || errno != ESRCH }

    /// Clears the soft-dirty bits of this QEMU process's pages (writes `4` to its clear_refs:
    /// that process only).
    func clearSoftDirty() throws(CaptureError) {
        guard softDirty == true else { return }
        let fd = open("/proc/\(spec.pid)/clear_refs", O_WRONLY)
        guard fd >= 0 else {
            throw CaptureError(
                "process \(spec.pid): cannot open /proc/\(spec.pid)/clear_refs for writing: \(String(cString: strerror(errno)))"
            )
        }
        defer { close(fd) }
        let ok = "4".withCString { write(fd, $0, 1) } == 1
        guard ok else {
            throw CaptureError(
                "process \(spec.pid): writing 4 to clear_refs failed: \(String(cString: strerror(errno)))")
        }
    }

    private func readPagemap() throws(CaptureError) {
        let bytes = process.pages * 8
        let offset = off_t(process.ramStart / 4096 * 8)
        var done = 0
        let failure: String? = pagemap.withUnsafeMutableBytes { raw in
            while done < bytes {
                let n = pread(pagemapFD, raw.baseAddress! + done, bytes - done, offset + off_t(done))
                if n <= 0 { return n < 0 ? String(cString: strerror(errno)) : "end of file" }
                done += n
            }
            return nil
        }
        if let f = failure {
            throw CaptureError("process \(spec.pid): reading its pagemap failed at byte \(done) of \(bytes): \(f)")
        }
    }

    /// Appends one snapshot's records, all stamped `time`. The first (`initial`) gives the
    /// content of every page the host backs and no accesses (what was written before the
    /// capture is unknown); later ones give `W` for every page whose soft-dirty bit is set and
    /// `C`/`Z` for every page written or changed. A page the host stopped backing (QEMU
    /// discarded it: a balloon, free page reporting) has become zero. Swapped-out pages are
    /// left as they were.
    func snapshot(
        time: Micros, initial: Bool, idle: PageIdleBitmap? = nil, into out: inout [TraceRecord]
    ) throws(CaptureError) {
        let started = now()
        if let q = qmp { try q.execute("stop") }
        defer {
            if let q = qmp {
                try? q.execute("cont")
                pauseSeconds.append(now() - started)
            }
            snapshotSeconds.append(now() - started)
        }
        try readPagemap()
        if softDirty == nil {
            var any = false, dirty = false
            for e in pagemap where PagemapEntry(e).present {
                any = true
                if PagemapEntry(e).softDirty { dirty = true; break }
            }
            if any { softDirty = dirty }
        }
        let useSoftDirty = softDirty == true
        // Idle page tracking: which frames were accessed since the last snapshot marked them idle
        // (read before this snapshot's own reads touch every page).
        var frames: [UInt64] = []
        var accessed: [Bool] = []
        if let idle {
            frames = pagemap.map { PagemapEntry($0).frame }
            if frames.allSatisfy({ $0 == 0 }) && pagemap.contains(where: { PagemapEntry($0).present }) {
                throw CaptureError(
                    "process \(spec.pid): its pagemap shows no frame numbers, which --track-reads needs (they are shown to CAP_SYS_ADMIN only: run as root)"
                )
            }
            if !initial { accessed = try idle.accessed(frames) }
        }
        var written = [Bool](repeating: false, count: process.pages)
        // The pages whose content is recorded, in page order (their hashes are then in
        // `hashes`, the non-zero ones' compressed sizes, measured while read, in `sizes`).
        var changed: [UInt32] = []
        swappedPages = 0
        var p = 0
        while p < process.pages {
            let e = PagemapEntry(pagemap[p])
            if e.present {
                // A run of present pages, read in one pread of up to readPages pages.
                var q = p + 1
                while q < process.pages, q - p < Self.readPages, PagemapEntry(pagemap[q]).present { q += 1 }
                let want = (q - p) * 4096
                let n = pread(memFD, buffer, want, off_t(Int64(bitPattern: process.ramStart + UInt64(p) * 4096)))
                guard n == want else {
                    if !alive { gone = true; return }
                    throw CaptureError(
                        "process \(spec.pid): reading guest page \(p) through /proc/\(spec.pid)/mem failed: \(n < 0 ? String(cString: strerror(errno)) : "short read")"
                    )
                }
                for i in p..<q {
                    let h = GuestMemory.hash(UnsafeRawPointer(buffer + (i - p) * 4096))
                    let dirty = !initial && useSoftDirty && PagemapEntry(pagemap[i]).softDirty
                    if initial || !seen[i] || dirty || h != hashes[i] {
                        if !initial && useSoftDirty && !dirty && seen[i] && h != hashes[i] { unseenWrites += 1 }
                        written[i] = !initial
                        changed.append(UInt32(i))
                        if h != 0 { sizes[i] = compressor.size(UnsafeRawPointer(buffer + (i - p) * 4096), 4096) }
                    }
                    hashes[i] = h
                    seen[i] = true
                }
                p = q
                continue
            }
            if e.swapped {
                swappedPages += 1
            } else if seen[p] && hashes[p] != 0 {
                // Discarded by the host: the guest now reads zeros.
                hashes[p] = 0
                changed.append(UInt32(p))
            }
            p += 1
        }
        if let idle { try idle.markIdle(frames) }
        // Accesses, in runs of one kind in page order: W for pages written, R for pages only
        // accessed (idle page tracking).
        let read = accessed.isEmpty ? nil : accessed
        var i = 0
        while i < process.pages {
            let w = written[i]
            guard w || read?[i] == true else { i += 1; continue }
            var j = i + 1
            while j < process.pages, written[j] == w, w || read?[j] == true { j += 1 }
            out.append(
                TraceRecord(time: time, vm: id, kind: w ? .write : .read, ppn: PPN(UInt32(i)), count: UInt32(j - i)))
            i = j
        }
        appendContent(
            time: time, vm: id, pages: changed, hash: { hashes[Int($0)] }, size: { sizes[Int($0)] }, into: &out)
    }

    private func now() -> Double { monotonicSeconds() }
}

/// Attaches to running QEMU processes and captures their guests' memory while they run: every
/// `interval` seconds, each VM's pagemap says which pages the host backs and which were written
/// since the last snapshot (soft-dirty), and every backed page is read through /proc/PID/mem and
/// hashed. The VMs are never paused unless `consistent`. Nothing else on the host is written:
/// the only write is `4` to each attached QEMU's own clear_refs.
public final class AttachSession {
    public let options: AttachOptions
    private let log: (String) -> Void

    public init(options: AttachOptions, log: @escaping (String) -> Void) throws(CaptureError) {
        try options.check()
        self.options = options
        self.log = log
    }

    public func run() throws(CaptureError) -> TraceFooter {
        let idle = options.trackReads ? try PageIdleBitmap(path: options.pageIdlePath) : nil
        var vms: [AttachedVM] = []
        for (i, s) in options.vms.enumerated() { vms.append(try AttachedVM(spec: s, id: VMID(UInt32(i)))) }
        // Two QEMUs started with the same -name keep it with their pid added.
        let taken = Dictionary(grouping: vms, by: \.name).filter { $0.value.count > 1 }.keys
        for v in vms where v.spec.name == nil && taken.contains(v.name) { v.name += "-\(v.spec.pid)" }
        var names = Set<String>()
        for v in vms where !names.insert(v.name).inserted {
            throw CaptureError("two VMs are named \(v.name): give each --attach its own name=")
        }
        // Records go to a temporary trace first: the header's facts (snapshot durations) are
        // known only at the end; the output is then written with them, atomically.
        let temp = options.output + ".attach-\(getpid()).tmp.mtr.zst"
        defer { unlink(temp) }
        let decls = vms.map { VMDecl(id: $0.id.rawValue, name: $0.name, pages: UInt64($0.process.pages)) }
        let w: BinaryTraceWriter
        do {
            w = try BinaryTraceWriter(
                path: temp, header: TraceHeader(vms: decls, capture: CaptureFacts(source: "qemu-attach")), level: 1)
        } catch {
            throw CaptureError(error.description)
        }
        var finished = false
        defer { if !finished { w.abandon() } }
        let restoreSignals = catchInterrupts()
        defer { restoreSignals() }
        var records: [TraceRecord] = []
        func flush() throws(CaptureError) {
            do { for r in records { try w.append(r) } } catch { throw CaptureError(error.description) }
            records.removeAll(keepingCapacity: true)
        }
        let start = now()
        let snapshots = Int((options.duration / options.interval).rounded(.up))
        var worstLateness = 0.0
        for k in 0...snapshots {
            let target = min(Double(k) * options.interval, options.duration)
            while now() - start < target {
                if interrupted != 0 { throw CaptureError("interrupted; nothing was written") }
                usleep(useconds_t(max(1_000, min(100_000, (target - (now() - start)) * 1e6))))
            }
            worstLateness = max(worstLateness, now() - start - target)
            let time = Micros.seconds(target)
            for v in vms where !v.gone {
                if !v.alive {
                    v.gone = true
                } else {
                    if k == 0 { records.append(TraceRecord(time: time, vm: v.id, kind: .powerOn)) }
                    try v.snapshot(time: time, initial: k == 0, idle: idle, into: &records)
                    if !v.gone { try v.clearSoftDirty() }
                }
                if v.gone {
                    records.append(TraceRecord(time: time, vm: v.id, kind: .powerOff))
                    log(
                        "capture: QEMU \(v.spec.pid) (\(v.name)) exited before \(formatSeconds(target)) s; OFF recorded"
                    )
                }
            }
            try flush()
            if k % max(1, Int((10 / options.interval).rounded())) == 0 {
                log(
                    "capture: \(formatSeconds(target)) of \(formatSeconds(options.duration)) s, \(vms.filter { !$0.gone }.count) VMs attached"
                )
            }
        }
        do { _ = try w.finish() } catch { throw CaptureError(error.description) }
        finished = true

        let header = TraceHeader(vms: decls, capture: facts(vms, lateness: worstLateness))
        let footer: TraceFooter
        do {
            footer = try TraceSinks.copy(
                from: try TraceFile.open(temp), to: options.output, header: header, level: options.level)
        } catch {
            throw CaptureError(error.description)
        }
        for v in vms {
            log(
                String(
                    format:
                        "capture: %@: snapshots took %.0f ms on average (at most %.0f)%@; %@; %d swapped out at the end",
                    v.name, mean(v.snapshotSeconds) * 1000, (v.snapshotSeconds.max() ?? 0) * 1000,
                    v.pauseSeconds.isEmpty
                        ? "" : String(format: ", paused %.0f ms on average", mean(v.pauseSeconds) * 1000),
                    v.softDirty == false
                        ? "no soft-dirty bits on this host: writes are content changes"
                        : "\(v.unseenWrites) pages changed with no soft-dirty bit",
                    v.swappedPages))
        }
        return footer
    }

    private func facts(_ vms: [AttachedVM], lateness: Double) -> CaptureFacts {
        var d: [String: String] = [
            "mode": "attach: running QEMU processes read through /proc/PID/mem and /proc/PID/pagemap while they run"
                + (options.consistent
                    ? " (each paused by QMP stop/cont while read)"
                    : " (never paused: a snapshot is read while the guest runs)"),
            "interval": formatSeconds(options.interval) + " s",
            "duration": formatSeconds(options.duration) + " s",
            "clock":
                "host wall-clock time since the capture started; records are stamped at the nominal snapshot times",
            "accesses": writesFact(vms),
            "reads": options.trackReads
                ? "R for every page the host's idle page tracking (\(options.pageIdlePath)) found accessed in the interval and not written: by the guest, or by QEMU or the host kernel for it (per host page frame: a touch anywhere in a transparent huge page marks all its 4 KiB pages); the first snapshot has none"
                : "not recorded: idle page tracking was not used (--track-reads); the trace's accesses are writes only",
            "content":
                "every page the host backs hashed at each snapshot; pages written or changed: C (non-zero) or Z; the first snapshot lists every backed page; never-backed pages are untouched and not in the trace; pages the host swapped out are not read (their last content stands); a page the host stops backing becomes Z",
            "host kernel": Self.uname(),
            "snapshot": String(
                format: "mean %.0f ms, max %.0f ms per VM; snapshots at most %.0f ms late",
                mean(vms.flatMap(\.snapshotSeconds)) * 1000,
                (vms.flatMap(\.snapshotSeconds).max() ?? 0) * 1000, lateness * 1000),
        ]
        if options.consistent {
            d["pause"] = String(
                format: "mean %.0f ms, max %.0f ms per VM and snapshot", mean(vms.flatMap(\.pauseSeconds)) * 1000,
                (vms.flatMap(\.pauseSeconds).max() ?? 0) * 1000)
        }
        for (i, v) in vms.enumerated() {
            d["vm\(i)"] = "\(v.name): pid \(v.spec.pid), \(v.process.pages / 256) MiB, RAM \(v.process.how)"
            d["vm\(i).cmdline"] = v.process.commandLine.joined(separator: " ")
            d["vm\(i).qemu"] = Self.version(of: v.spec.pid)
        }
        var f = CaptureFacts(
            source: "qemu-attach", hash: .init(algorithm: "xxh3-64", bits: 64),
            accesses: options.trackReads ? "interval" : "interval-writes", details: d)
        f.compression = PageCompressor.name
        return f
    }

    /// What the W records mean, by whether the host kernel keeps soft-dirty bits.
    private func writesFact(_ vms: [AttachedVM]) -> String {
        let with =
            "W for every page whose soft-dirty bit was set in the interval (per host page: a write anywhere in a host huge page marks all of its 4 KiB pages), by the guest, by QEMU or by the kernel for QEMU (DMA)"
        let without =
            "W for every page whose content changed in the interval: the host kernel keeps no soft-dirty bits (built without CONFIG_MEM_SOFT_DIRTY), so a write that leaves a page as it was is not seen, and clear_refs was never written"
        let modes = Set(vms.map { $0.softDirty != false })
        if modes == [true] { return "writes only: " + with }
        if modes == [false] { return "writes only: " + without }
        return "writes only: "
            + vms.enumerated().map { "vm\($0.offset): " + ($0.element.softDirty != false ? with : without) }.joined(
                separator: "; ")
    }

    private func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

    static func uname() -> String {
        var u = utsname()
        Glibc.uname(&u)
        func field<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    /// The first line of `EXE --version` for the process's executable.
    static func version(of pid: Int32) -> String {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else {
            return "unknown"
        }
        let path = exe.hasSuffix(" (deleted)") ? String(exe.dropLast(10)) : exe
        return CaptureSession.run([path, "--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown"
    }

    private func now() -> Double { monotonicSeconds() }
}
