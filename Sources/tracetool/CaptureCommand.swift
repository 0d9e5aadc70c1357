import ArgumentParser
import Replay
import Capture
import Foundation
import TraceFormat

struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract:
            "Capture a trace from real Linux VMs: booted under QEMU's TCG emulator, or running QEMU/KVM VMs attached in place.",
        discussion: """
            Needs QEMU, a Debian cloud kernel, the tt-access plugin and the guest initramfs: run \
            scripts/capture-setup.sh once (it installs and builds them into .capture/; with --server \
            it also builds the Debian server image the server workloads boot). Each VM boots a \
            busybox initramfs, or the Debian image from an NVMe disk, and runs one workload; its RAM \
            is a file in /dev/shm that is read while the VMs are stopped. Every --interval seconds of running time the capture stops all \
            VMs, writes the interval's page accesses (from the plugin) and every page whose content \
            changed or was written (XXH3-64 hashes; Z for zero pages), and lets them go on. \
            See docs/CAPTURE.md.

            --vm WORKLOAD[,mem=MIB][,seed=N][,name=S][,count=N][,start=SECONDS][,stop=SECONDS][,schedule=MIB:SECONDS;...][,run=SCRIPT][,files=DIR]

            Workloads: \(GuestWorkload.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")).

            Defaults: mem=256 (busybox) or 1024 (Debian), seed = the VM's position + 1, count=1 (count=N makes N identical VMs, \
            same seed), start=0, no stop (VMs still running at the end get no power-off record).

            --warmup SECONDS lets every VM boot and run that long before the trace starts; the trace \
            then begins with the memory the warm-up left, not with the boot.

            Long horizons (guests whose page caches have filled): --content-only drops the access \
            plugin (writes are inferred from content changes; no reads), --icount-shift off lets each \
            guest's clock follow the host's, --prewarm makes server guests read their data set once, \
            and a long --warmup ages them. The log shows each VM's memory in use and its own clock \
            every minute; the header records the warm-up and each guest's clock at the start. See \
            docs/CAPTURE.md, "Long horizons".

            Example: tracetool capture --vm sort,mem=128 --duration 20s --interval 5s -o small.mtr.zst
            Example: tracetool capture --vm postgres --vm web,mem=768 --warmup 1m --duration 5m --interval 10s -o servers.mtr.zst
            Example: tracetool capture --vm custom,run=job.sh,files=data --duration 1m -o mine.mtr.zst
            Example: tracetool capture --vm postgres,count=5 --content-only --icount-shift off --prewarm --warmup 30m --duration 10m --interval 30s -o aged.mtr.zst

            Attach mode: --attach PID[,name=S][,qmp=SOCKET] (repeatable) or --attach-all captures \
            QEMU/KVM VMs that are already running, at full speed, without stopping them: every \
            --interval it reads which pages each QEMU's host backs and which were written (soft-dirty \
            bits in /proc/PID/pagemap, then cleared for that process only; where the host kernel has \
            none, pages whose content changed), and hashes every backed page through /proc/PID/mem \
            (read-only). Reads are recorded only with --track-reads, from the host kernel's idle page \
            tracking where it has one. --consistent pauses \
            each VM while it is read (needs qmp=). Needs the QEMU processes' user, or root. \
            See docs/CAPTURE.md, "Attaching to running VMs".

            Example: tracetool capture --attach $(pgrep -f 'qemu-system.*guest0') --duration 1m -o live.mtr.zst
            """)

    @Option(name: .customLong("vm"), help: "A VM to run (repeatable; see above).") var vms: [String] = []
    @Option(
        name: .customLong("attach"), help: "A running QEMU process to capture: PID[,name=S][,qmp=SOCKET] (repeatable).")
    var attach: [String] = []
    @Flag(help: "Attach to every QEMU process of this user (of every user for root) that has guest RAM.")
    var attachAll = false
    @Flag(help: "Attach mode: pause each VM (QMP stop/cont) while it is read, so each snapshot is exact.")
    var consistent = false
    @Flag(
        help:
            "Attach mode: record reads too, from the host kernel's idle page tracking (/sys/kernel/mm/page_idle/bitmap; root; it sets the idle bits of the attached VMs' frames)."
    )
    var trackReads = false
    // .unconditional: "-5" reaches the duration parser (which says what is wrong with it) instead
    // of being taken for an option.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("VM running time to capture, up to 24h (\(DurationText.forms)).", valueName: "D"))
    var duration: String = "60s"
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Running time between snapshots, at least 100ms.", valueName: "D"))
    var interval: String = "5s"
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Running time every VM gets before the trace starts (not recorded), up to 24h.", valueName: "D"))
    var warmup: String = "0s"

    func validate() throws {
        _ = try durationOption("--duration", duration)
        _ = try durationOption("--interval", interval)
        _ = try durationOption("--warmup", warmup)
        // The ranges, as usage errors (exit 64) before anything starts.
        let (d, i, w) = seconds
        guard i >= 0.1 else { throw ValidationError("--interval \(interval) is shorter than 100ms") }
        guard d >= i, d <= 86_400 else {
            throw ValidationError("--duration \(duration) must be at least --interval (\(interval)) and at most 24h")
        }
        guard w <= 86_400 else { throw ValidationError("--warmup \(warmup) is longer than 24h") }
        guard icountShift == "off" || Int(icountShift).map({ (0...10).contains($0) }) == true else {
            throw ValidationError("--icount-shift must be 0 to 10, or off")
        }
    }

    /// The duration options in seconds (validated).
    var seconds: (duration: Double, interval: Double, warmup: Double) {
        (
            Units.parseDuration(duration)!.seconds, Units.parseDuration(interval)!.seconds,
            Units.parseDuration(warmup)!.seconds
        )
    }
    @Option(
        help: ArgumentHelp(
            "QEMU -icount shift: a guest instruction advances the guest clock by 2^N ns (0-10); off: no -icount, each guest's clock follows the host's while it runs.",
            valueName: "N|off"))
    var icountShift: String = "3"
    @Flag(
        help:
            "No access plugin: record content only (a page whose content changed counts as written; no reads). About twice as fast per guest second."
    )
    var contentOnly = false
    @Flag(help: "Server VMs read their workload's data set once (into the page cache) before it starts.")
    var prewarm = false
    @Option(help: "Directory scripts/capture-setup.sh filled (default: $TRACETOOL_CAPTURE_DIR, else .capture).")
    var assets: String?
    @Option(help: "Copy each VM's serial console to DIR/NAME.console.") var consoles: String?
    @Option(help: "zstd compression level (1-19).") var level: Int32 = 19
    @Option(name: .shortAndLong, help: "Output trace (binary, written atomically).") var output: String
    @Flag(name: .shortAndLong, help: "Print no progress.") var quiet = false

    func run() throws {
        if !attach.isEmpty || attachAll {
            try runAttach()
            return
        }
        if consistent || trackReads {
            throw CommandFailure.usage(
                "\(consistent ? "--consistent" : "--track-reads") is for attach mode (--attach or --attach-all)")
        }
        var specs: [CaptureVMSpec] = []
        do {
            for v in vms { specs += try CaptureVMSpec.parse(v, index: specs.count) }
        } catch {
            throw CommandFailure.usage(error.description)
        }
        try checkOutputs([output], inputs: [], stdout: false)
        let opts = options(specs)
        do { try opts.check() } catch { throw CommandFailure.usage(error.description) }
        let result: (footer: TraceFooter, vms: Int)
        do { result = try capture(opts) } catch {
            throw CommandFailure.failed(error.description)
        }
        writeStdout("\(output): \(result.footer.records) records from \(result.vms) VMs\n")
    }

    private func runAttach() throws {
        guard vms.isEmpty else {
            throw CommandFailure.usage("--vm boots new VMs and --attach captures running ones: give one or the other")
        }
        guard seconds.warmup == 0 else {
            throw CommandFailure.usage("--warmup is for VMs the capture boots; attached VMs are already running")
        }
        var specs: [AttachSpec] = []
        do {
            for a in attach { specs.append(try AttachSpec.parse(a)) }
        } catch {
            throw CommandFailure.usage(error.description)
        }
        if attachAll {
            for pid in QEMUProcess.all() where !specs.contains(where: { $0.pid == pid }) {
                specs.append(AttachSpec(pid: pid))
            }
        }
        try checkOutputs([output], inputs: [], stdout: false)
        let opts = AttachOptions(
            vms: specs, duration: seconds.duration, interval: seconds.interval, output: output, level: level,
            consistent: consistent, trackReads: trackReads)
        let quiet = self.quiet
        let footer: TraceFooter
        do {
            let session = try AttachSession(options: opts) { line in
                if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            footer = try session.run()
        } catch {
            throw CommandFailure.failed(error.description)
        }
        writeStdout("\(output): \(footer.records) records from \(specs.count) attached VMs\n")
    }

    private func options(_ specs: [CaptureVMSpec]) -> CaptureOptions {
        let dir = assets ?? ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_DIR"] ?? ".capture"
        return CaptureOptions(
            vms: specs, duration: seconds.duration, interval: seconds.interval, icountShift: Int(icountShift),
            assets: dir, output: output, level: level, consoleDirectory: consoles,
            warmup: seconds.warmup, accessPlugin: !contentOnly, prewarm: prewarm)
    }

    private func capture(_ opts: CaptureOptions) throws(CaptureError) -> (footer: TraceFooter, vms: Int) {
        if let c = consoles { try? FileManager.default.createDirectory(atPath: c, withIntermediateDirectories: true) }
        let quiet = self.quiet
        let session = try CaptureSession(options: opts) { line in
            if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        return (try session.run(), opts.vms.count)
    }
}
