import TraceFormat

/// `mix`: a many-VM random mix of accesses and content records.
///
/// Uses `vms`, `pagesPerVM`, `records`, `duration`, `writeFraction`, `contentFraction`,
/// `zeroFraction`, `runFraction`, `commonContent`, `virtualAddresses`. Each VM has a hot set
/// (a tenth of its pages, receiving 80% of accesses) and otherwise touches pages uniformly;
/// content records draw from a pool of 4,096 contents common to every VM with probability
/// `commonContent`, else from a per-VM pool (so some duplicates are within one VM), else
/// unique values. Times are evenly spread with jitter over `duration`. VMs run in bursts, as a
/// hypervisor schedules them: after each record the next one switches to a random VM with
/// probability 1/32.
public enum MixScenario: TraceScenario {
    public static let name = "mix"
    public static let options: Set<String> = [
        "seed", "vms", "pages", "records", "duration", "write-fraction", "content-fraction", "zero-fraction",
        "run-fraction", "common-content", "virtual-addresses",
    ]
    public static func plannedRecords(_ o: GenOptions) -> Double { Double(o.records) }
    public static let summary = "many VMs, random accesses (hot set + uniform), runs, content and zero records"

    public static func header(_ o: GenOptions) -> TraceHeader { o.standardHeader(source: name) }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        var rng = SeededRandom.derive(seed: o.seed, 0x6D6978)
        let vms = UInt64(max(1, o.vms))
        let pages = max(1, o.pagesPerVM)
        let hot = max(1, pages / 10)
        let span = UInt64(max(0, o.duration) * 1_000_000)
        /// Where record i would fall if spaced exactly evenly: i · span / records, so the trace
        /// spans `duration` whatever `records` is (the step alternates between ⌊span/records⌋
        /// and ⌈span/records⌉).
        func ideal(_ i: UInt64) -> UInt64 {
            let (hi, lo) = i.multipliedFullWidth(by: span)
            return o.records.dividingFullWidth((hi, lo)).quotient
        }
        var time: UInt64 = 0
        let pContent = o.contentFraction
        let pZero = pContent + o.zeroFraction
        var vm = rng.below(vms)
        for i in 0..<o.records {
            if rng.below(32) == 0 { vm = rng.below(vms) }
            let u = rng.unit()
            var ppn: UInt64 = rng.unit() < 0.8 ? rng.below(hot) : rng.below(pages)
            var r = TraceRecord(time: Micros(time), vm: VMID(UInt32(vm)), kind: .read)
            if u < pContent {
                r.kind = .content
                let v = rng.unit()
                let h: UInt64
                if v < o.commonContent {
                    h = 0x1000_0000_0000_0000 | rng.below(4096)
                } else if v < o.commonContent + 0.2 {
                    h = 0x2000_0000_0000_0000 | vm << 32 | rng.below(1024)
                } else {
                    h = rng.next() | 1
                }
                r.hash = ContentHash(h)
            } else if u < pZero {
                r.kind = .zero
            } else {
                r.kind = rng.unit() < o.writeFraction ? .write : .read
                if o.virtualAddresses {
                    let asid = rng.below(4)
                    r.hasVirtual = true
                    r.asid = ASID(UInt32(asid))
                    r.vpn = VPN(0x400 + ppn)
                } else if rng.unit() < o.runFraction {
                    let n = 2 + rng.below(15)
                    if ppn + n > pages { ppn = pages >= n ? pages - n : 0 }
                    r.count = UInt32(min(n, pages - ppn))
                }
            }
            r.ppn = PPN(UInt32(ppn))
            try sink.append(r)
            let step = ideal(i + 1) - ideal(i)
            if step > 0 && i + 1 < o.records {
                // A jittered step of mean `step` (an odd step's half alternates down and up).
                time += (step + (i & 1)) / 2 + rng.below(step + 1)
            }
        }
    }
}

/// `snapshot`: a static content snapshot of every page of every VM at time 0, then nothing.
///
/// Uses `vms`, `pagesPerVM`, `zeroFraction` (share of zero pages), `commonContent` (share of
/// pages whose content comes from a pool common to all VMs). Pages not zero and not common
/// get contents unique to the VM except for a per-VM pool of 64 values (a fifth of them), so
/// there are duplicates within and across VMs. Replaying it with `--settle` long enough for a
/// full sweep must share exactly (backed pages − distinct contents).
public enum SnapshotScenario: TraceScenario {
    public static let name = "snapshot"
    public static let options: Set<String> = ["seed", "vms", "pages", "zero-fraction", "common-content"]
    public static func plannedRecords(_ o: GenOptions) -> Double { Double(o.vms) * Double(o.pagesPerVM) }
    public static let summary = "one content record per page at time 0 (zero, common, per-VM and unique contents)"

    public static func header(_ o: GenOptions) -> TraceHeader { o.standardHeader(source: name, accesses: "interval") }

    public static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError) {
        for vm in 0..<max(1, o.vms) {
            var rng = SeededRandom.derive(seed: o.seed, 0x736E6170, UInt64(vm))
            for p in 0..<max(1, o.pagesPerVM) {
                let u = rng.unit()
                var r = TraceRecord(time: .zero, vm: VMID(UInt32(vm)), kind: .content, ppn: PPN(UInt32(p)))
                if u < o.zeroFraction {
                    r.kind = .zero
                } else if u < o.zeroFraction + o.commonContent {
                    r.hash = ContentHash(0x1000_0000_0000_0000 | rng.below(256))
                } else if rng.unit() < 0.2 {
                    r.hash = ContentHash(0x2000_0000_0000_0000 | UInt64(vm) << 32 | rng.below(64))
                } else {
                    r.hash = ContentHash(0x4000_0000_0000_0000 | UInt64(vm) << 32 | p)
                }
                try sink.append(r)
            }
        }
    }
}
