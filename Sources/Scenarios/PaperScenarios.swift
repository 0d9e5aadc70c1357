import TraceFormat

/// Scenarios that reproduce the settings of the paper's figures (docs/PAPER.md). Sizes scale with
/// `pagesPerVM`; the paper's sizes are the documented defaults to pass.

/// Converts the paper's MB figures to pages for a VM scaled to `pages` (`fullMB` ↔ `pages`).
private func scaled(_ mb: Double, fullMB: Double, pages: UInt64) -> UInt64 {
    UInt64((mb / fullMB * Double(pages)).rounded())
}

/// `fig6`: one VM running a memory toucher on Fig. 6's schedule (§5.3): 0 MB until minute 8.6,
/// then 50, 150 (10.6), 200 (12.5), 250 (14.5), 200 (17.6), 100 (19.6), 200 (21.6),
/// 150 (23.6), 0 (27.6), 50 (38.5), 150 (40.5), 200 (42.5), 250 (44.5), until minute 50 (or
/// `duration` if longer); plus 15 MB of background activity at the top of memory. Every 5 s
/// the toucher writes its current set once (one run record) and the background is read.
/// Uses `pagesPerVM` (the VM is 512 MB: pass 131072 for the paper's size; MB scale with it).
public enum Fig6Scenario: TraceScenario {
    public static let name = "fig6"
    public static let options: Set<String> = ["pages", "duration"]
    public static func plannedRecords(_ o: GenOptions) -> Double { max(3000, o.duration) / 5 * 2 }
    public static let summary = "one VM, a memory toucher on the paper's Fig. 6 schedule (512 MB VM = --pages 131072)"
    public static let schedule: [(minute: Double, mb: Double)] = [
        (0, 0), (8.6, 50), (10.6, 150), (12.5, 200), (14.5, 250), (17.6, 200), (19.6, 100), (21.6, 200),
        (23.6, 150), (27.6, 0), (38.5, 50), (40.5, 150), (42.5, 200), (44.5, 250),
    ]

    public static func header(_ o: GenOptions) -> TraceHeader {
        var h = o.standardHeader(source: name)
        h.vms = [VMDecl(id: 0, name: "toucher", pages: o.pagesPerVM)]
        return h
    }

    /// Megabytes the toucher holds at `minute`.
    public static func touchedMB(atMinute m: Double) -> Double {
        var mb = 0.0
        for s in schedule where s.minute <= m { mb = s.mb }
        return mb
    }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        let pages = o.pagesPerVM
        let end = max(50 * 60, o.duration)
        let bg = scaled(15, fullMB: 512, pages: pages)
        var t = 0.0
        while t < end {
            let time = Micros(UInt64(t * 1_000_000))
            let ws = min(scaled(touchedMB(atMinute: t / 60), fullMB: 512, pages: pages), pages - bg)
            if ws > 0 {
                try sink.append(TraceRecord(time: time, vm: VMID(0), kind: .write, ppn: PPN(0), count: UInt32(ws)))
            }
            if bg > 0 {
                try sink.append(
                    TraceRecord(time: time, vm: VMID(0), kind: .read, ppn: PPN(UInt32(pages - bg)), count: UInt32(bg)))
            }
            t += 5
        }
    }
}

/// `fig7`: Fig. 7's two VMs (§5.2): equal shares and sizes (256 MB each: --pages 65536). Both
/// zero all their memory at boot (Windows and Linux touch it all). VM 0 boots at 0 and is then
/// idle, writing 9.5 MB of its memory every 5 s; VM 1 powers on at minute 5 and runs a
/// dbench-like load: `pagesPerVM / 16` writes per second to random pages, 70% of them in its
/// first half, until `duration` (the paper's run: 40 minutes = --duration 2400).
/// Replay with memory for VMs of 358 MB (M = (358 + overheads) / 0.94).
public enum Fig7Scenario: TraceScenario {
    public static let name = "fig7"
    public static let options: Set<String> = ["seed", "pages", "duration"]
    public static func plannedRecords(_ o: GenOptions) -> Double {
        2 * Double(o.pagesPerVM) + o.duration * (Double(o.pagesPerVM) / 16 + 1)
    }
    public static let summary =
        "two equal VMs: one idle, one busy arriving at minute 5 (Fig. 7; --pages 65536 --duration 2400)"

    public static func header(_ o: GenOptions) -> TraceHeader {
        var h = o.standardHeader(source: name)
        h.vms = [VMDecl(id: 0, name: "idle", pages: o.pagesPerVM), VMDecl(id: 1, name: "busy", pages: o.pagesPerVM)]
        return h
    }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        var rng = SeededRandom.derive(seed: o.seed, 0xF167)
        let pages = o.pagesPerVM
        let idleSet = max(1, scaled(9.5, fullMB: 256, pages: pages))
        let rate = max(1, pages / 16)
        let half = max(1, pages / 2)
        var nextIdle = 0.0
        var second = 0.0
        try sink.append(TraceRecord(time: .zero, vm: VMID(0), kind: .zero, ppn: PPN(0), count: UInt32(pages)))
        while second < o.duration {
            if second >= nextIdle {
                try sink.append(
                    TraceRecord(
                        time: Micros(UInt64(second * 1e6)), vm: VMID(0), kind: .write, ppn: PPN(0),
                        count: UInt32(idleSet)))
                nextIdle += 5
            }
            if second == 300 {
                try sink.append(TraceRecord(time: Micros(300_000_000), vm: VMID(1), kind: .powerOn))
                try sink.append(
                    TraceRecord(time: Micros(300_000_000), vm: VMID(1), kind: .zero, ppn: PPN(0), count: UInt32(pages)))
            }
            if second >= 300 {
                for k in 0..<rate {
                    let p = rng.unit() < 0.7 ? rng.below(half) : rng.below(pages)
                    let t = UInt64(second * 1e6) + k * 1_000_000 / rate
                    try sink.append(TraceRecord(time: Micros(t), vm: VMID(1), kind: .write, ppn: PPN(UInt32(p))))
                }
            }
            second += 1
        }
    }
}

/// `identical`: `vms` identical VMs (the same guest OS image) of `pagesPerVM` pages, as in
/// Fig. 4 (§4: 40 MB VMs = --pages 10240). At boot each page is 55% likely an OS page whose
/// content depends only on its PPN (the same in every VM), 15% zero, else unique to the VM;
/// then for `duration` each VM reads random pages and rewrites pages of its unique part
/// (`records` records in all, a tenth of them content updates).
public enum IdenticalScenario: TraceScenario {
    public static let name = "identical"
    public static let options: Set<String> = ["seed", "vms", "pages", "records", "duration"]
    public static func plannedRecords(_ o: GenOptions) -> Double {
        Double(o.vms) * Double(o.pagesPerVM) + Double(o.records)
    }
    public static let summary = "N identical VMs sharing an OS image (Fig. 4; 40 MB VMs = --pages 10240)"

    public static func header(_ o: GenOptions) -> TraceHeader { o.standardHeader(source: name) }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        let pages = o.pagesPerVM
        var layout = SeededRandom.derive(seed: o.seed, 0x1D, 0)
        // One layout for all VMs: which PPNs hold OS pages, zero pages, or private data.
        var kind = [UInt8](repeating: 2, count: Int(pages))
        for p in 0..<Int(pages) {
            let u = layout.unit()
            kind[p] = u < 0.55 ? 0 : u < 0.70 ? 1 : 2
        }
        for vm in 0..<o.vms {
            for p in 0..<pages {
                var r = TraceRecord(time: .zero, vm: VMID(UInt32(vm)), kind: .content, ppn: PPN(UInt32(p)))
                switch kind[Int(p)] {
                case 0: r.hash = ContentHash(0x0500_0000_0000_0000 | p)
                case 1: r.kind = .zero
                default: r.hash = ContentHash(0x0600_0000_0000_0000 | UInt64(vm) << 32 | p)
                }
                try sink.append(r)
            }
        }
        var rng = SeededRandom.derive(seed: o.seed, 0x1D, 1)
        let step = o.records > 0 ? UInt64(o.duration * 1e6) / o.records : 0
        var t: UInt64 = 1
        var version: UInt64 = 1
        for _ in 0..<o.records {
            let vm = UInt32(rng.below(UInt64(max(1, o.vms))))
            let p = rng.below(pages)
            if kind[Int(p)] == 2 && rng.unit() < 0.1 {
                version += 1
                try sink.append(
                    TraceRecord(
                        time: Micros(t), vm: VMID(vm), kind: .content, ppn: PPN(UInt32(p)),
                        hash: ContentHash(0x0700_0000_0000_0000 | version)))
            } else {
                try sink.append(TraceRecord(time: Micros(t), vm: VMID(vm), kind: .read, ppn: PPN(UInt32(p))))
            }
            t += step
        }
    }
}

/// `fig8`: Fig. 8's five VMs (§6): Exchange server and client (256 MB each), Citrix server and
/// client and SQL Server (320 MB each), min = max / 2, shares ∝ max; each powers on 20 s after
/// the previous one and zeroes all its memory at boot (Windows does), then works on 40% of its
/// memory; the SQL Server is idle except for a long query touching 80% of it between 60% and
/// 75% of `duration`. Sizes scale with `pagesPerVM` (= the 256 MB VMs; 65536 for the paper's),
/// the host is 1 GB at that scale (`--host-memory` 262144 pages × pagesPerVM / 65536).
public enum Fig8Scenario: TraceScenario {
    public static let name = "fig8"
    public static let options: Set<String> = ["seed", "pages", "duration"]
    public static func plannedRecords(_ o: GenOptions) -> Double {
        5 * 1.25 * Double(o.pagesPerVM) + max(o.duration, 200) * (Double(o.pagesPerVM) / 128 + 1) * 5
    }
    public static let summary =
        "five Windows VMs that zero their memory at boot, 60% overcommitted (Fig. 8; --pages 65536)"
    static let sizes: [(String, Double)] = [
        ("exchange", 1), ("exchange-client", 1), ("citrix", 1.25), ("citrix-client", 1.25), ("sql", 1.25),
    ]

    public static func header(_ o: GenOptions) -> TraceHeader {
        var h = o.standardHeader(source: name)
        h.vms = sizes.enumerated().map { i, s in
            let p = UInt64(Double(o.pagesPerVM) * s.1)
            let mib = Double(p * 4096) / 1_048_576
            return VMDecl(id: UInt32(i), name: s.0, pages: p, minPages: p / 2, shares: UInt64(mib * 10))
        }
        return h
    }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        let h = header(o)
        var rng = SeededRandom.derive(seed: o.seed, 0xF168)
        let end = UInt64(max(o.duration, 200) * 1e6)
        // Power on and zero at boot, 20 s apart.
        var events: [TraceRecord] = []
        for (i, vm) in h.vms.enumerated() {
            let t = Micros(UInt64(i) * 20_000_000)
            events.append(TraceRecord(time: t, vm: VMID(vm.id), kind: .powerOn))
            events.append(TraceRecord(time: t, vm: VMID(vm.id), kind: .zero, ppn: PPN(0), count: UInt32(vm.pages)))
        }
        for e in events { try sink.append(e) }
        var t: UInt64 = 100_000_000
        let perSecond = max(1, o.pagesPerVM / 128)
        while t < end {
            let frac = Double(t) / Double(end)
            for (i, vm) in h.vms.enumerated() {
                let isSQL = i == 4
                let querying = isSQL && frac >= 0.6 && frac < 0.75
                let set = isSQL ? (querying ? vm.pages * 8 / 10 : max(1, vm.pages / 50)) : vm.pages * 4 / 10
                let n = isSQL && !querying ? max(1, perSecond / 16) : perSecond
                for _ in 0..<n {
                    let p = rng.below(set)
                    try sink.append(
                        TraceRecord(
                            time: Micros(t), vm: VMID(vm.id), kind: rng.unit() < 0.5 ? .write : .read,
                            ppn: PPN(UInt32(p))))
                }
            }
            t += 1_000_000
        }
    }
}

/// `tax`: the idle memory tax's case (§5.2; docs/MODEL.md "Worked equilibria"). Two VMs of
/// `pagesPerVM` pages with shares 2:1 (20 and 10 per MiB). VM 0, "idle", writes all of its
/// pages at 0 s and from then on reads a tenth of them every second. VM 1, "busy", powers on at
/// 60 s, grows by `pagesPerVM / 120` pages a second (all of it in two minutes), writing every
/// page it has so far each second, and then writes all of its pages every second until
/// `duration`: every page it is given is active, and what it loses it refaults. Replay with
/// memory for VMs of about 1.5× one VM: with τ = 0 the idle VM's shares keep all its memory;
/// with τ = 0.75 most of it moves to the busy VM.
public enum TaxScenario: TraceScenario {
    public static let name = "tax"
    public static let options: Set<String> = ["pages", "duration"]
    public static func plannedRecords(_ o: GenOptions) -> Double { 2 * max(1, o.duration) + 2 }
    public static let summary =
        "two VMs, shares 2:1: the high-share one idle (a tenth active), the other busy from 1 min (the idle tax's case)"

    public static func header(_ o: GenOptions) -> TraceHeader {
        var h = o.standardHeader(source: name)
        let low = max(1, o.pagesPerVM * 10 / 256)
        h.vms = [
            VMDecl(id: 0, name: "idle", pages: o.pagesPerVM, shares: 2 * low),
            VMDecl(id: 1, name: "busy", pages: o.pagesPerVM, shares: low),
        ]
        return h
    }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        let pages = max(1, o.pagesPerVM)
        let active = max(1, pages / 10)
        let growth = max(1, pages / 120)
        /// Pages 0..<n as runs of at most 2^32 − 1 pages (a record's count is 32-bit).
        func run(_ t: Micros, _ vm: UInt32, _ kind: RecordKind, _ n: UInt64) throws(TraceError) {
            var at: UInt64 = 0
            while at < n {
                let c = min(n - at, UInt64(UInt32.max))
                try sink.append(TraceRecord(time: t, vm: VMID(vm), kind: kind, ppn: PPN(UInt32(at)), count: UInt32(c)))
                at += c
            }
        }
        try run(.zero, 0, .write, pages)
        var second: UInt64 = 1
        while Double(second) < o.duration {
            let t = Micros(second * 1_000_000)
            try run(t, 0, .read, active)
            if second == 60 { try sink.append(TraceRecord(time: t, vm: VMID(1), kind: .powerOn)) }
            if second >= 60 { try run(t, 1, .write, min(pages, growth * (second - 59))) }
            second += 1
        }
    }
}
