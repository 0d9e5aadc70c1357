import Foundation
import TraceFormat

/// `tracetool gen fleet`: many VMs made from captured ones, one trace per VM in a folder
/// (docs/FLEET.md, "A fleet to try it on").
///
/// Fleet VM i (0-based) draws from its own seeded stream (seed, i):
/// - its **template**: one VM of the template traces, uniformly;
/// - its **shift** s: uniform in [0, span/2] of the template VM's span (its last record's time);
/// - its **length** L: uniform in [½, 1] × min(`length`, span − s);
/// - its trace: at time 0 the template VM's state at s (pages written with no content since: a
///   `W` run; pages with known content: `C` or `Z`; untouched pages nothing), then the template
///   VM's records with s < t ≤ s + L at t − s;
/// - **private content**: each distinct digest h becomes private to the VM with probability
///   `privateFraction` (decided by a hash of (seed, i, h), so every copy of h in the VM changes
///   alike and its own duplicates stay duplicates), replaced by a digest no other VM has; the
///   zero page stays zero. Two fleet VMs of one template then share about (1 − p)² of what
///   the template shares with itself, and VMs of two templates (1 − p)² of what those share.
///
/// Each VM is written by one pass over its template's trace with one page table of the template
/// VM's size, so memory is one VM's pages whatever the fleet's size; time is one decode of a
/// template per fleet VM.
public struct FleetGenerator: Sendable {
    public var templates: [String]
    public var vms: Int
    public var seed: UInt64
    /// Longest window of a template a VM takes (µs).
    public var length: Micros
    public var privateFraction: Double
    public var level: Int32 = 3

    public init(templates: [String], vms: Int, seed: UInt64, length: Micros, privateFraction: Double) {
        self.templates = templates
        self.vms = vms
        self.seed = seed
        self.length = length
        self.privateFraction = privateFraction
    }

    /// One template VM: where it is and its span.
    public struct Template: Sendable, Equatable {
        public var trace: String
        public var vm: VMDecl
        public var spanMicros: UInt64
    }

    /// What fleet VM i is made of.
    public struct Member: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var template: Int
        public var shiftMicros: UInt64
        public var lengthMicros: UInt64
        public var file: String
    }

    /// The template VMs of the template traces (checked to fit together), with their spans.
    public func readTemplates() throws(TraceError) -> (header: TraceHeader, templates: [Template]) {
        var out: [Template] = []
        var first: (String, TraceHeader)? = nil
        for path in templates {
            let r = try TraceFile.open(path)
            let h = r.header
            if let (fp, fh) = first {
                func refuse(_ s: String) -> TraceError {
                    TraceError(file: path, .malformed("cannot use as a template: " + s))
                }
                guard h.pageSize == fh.pageSize else { throw refuse("\(h.pageSize)-byte pages, \(fp) \(fh.pageSize)") }
                guard h.capture.hash?.algorithm == fh.capture.hash?.algorithm else {
                    throw refuse(
                        "it hashes with \(h.capture.hash?.algorithm ?? "nothing named"), \(fp) with \(fh.capture.hash?.algorithm ?? "nothing named")"
                    )
                }
                guard h.capture.accesses == fh.capture.accesses else {
                    throw refuse("accesses \(h.capture.accesses), \(fp) \(fh.capture.accesses)")
                }
            } else {
                first = (path, h)
            }
            // Spans: each VM's last record.
            let index = VMIndexMap(h.vms)
            var last = [UInt64](repeating: 0, count: h.vms.count)
            var batch: [TraceRecord] = []
            while try r.next(into: &batch) {
                for x in batch { if let v = index[x.vm.rawValue] { last[v] = x.time.rawValue } }
            }
            for (v, d) in h.vms.enumerated() where d.pageSize == nil || d.pageSize == h.pageSize {
                out.append(Template(trace: path, vm: d, spanMicros: last[v]))
            }
        }
        guard let f = first, !out.isEmpty else {
            throw TraceError(file: templates.first ?? "-", .malformed("no template VMs"))
        }
        return (f.1, out)
    }

    /// The fleet's members, from the seed alone.
    public func members(_ ts: [Template]) -> [Member] {
        let width = max(4, String(vms - 1).count)
        return (0..<vms).map { i in
            var rng = SeededRandom.derive(seed: seed, 0xF1EE7, UInt64(i))
            let t = Int(rng.next() % UInt64(ts.count))
            let span = ts[t].spanMicros
            let shift = span / 2 == 0 ? 0 : rng.next() % (span / 2 + 1)
            let most = min(length.rawValue, span - shift)
            let len = most / 2 + (most - most / 2 == 0 ? 0 : rng.next() % (most - most / 2 + 1))
            let number = String(repeating: "0", count: width - String(i).count) + String(i)
            let name = "\(ts[t].vm.name)-\(number)"
            return Member(
                index: i, name: name, template: t, shiftMicros: shift, lengthMicros: len, file: "vm\(number).mtr.zst")
        }
    }

    /// A digest private to fleet VM `i` with probability p, else the digest itself.
    @inline(__always)
    static func remap(_ h: UInt64, vmKey: UInt64, threshold: UInt64) -> UInt64 {
        guard h != 0 else { return 0 }
        if mix(h ^ vmKey) >= threshold { return h }
        let p = mix(h &+ vmKey &* 0x9E37_79B9_7F4A_7C15 ^ 0x5EED)
        return p == 0 ? 1 : p
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 { SeededRandom.splitMix(x) }

    /// Writes fleet VM `m` to `path`.
    public func write(_ m: Member, template t: Template, to path: String) throws(TraceError) -> TraceFooter {
        let r = try TraceFile.open(t.trace)
        let h = r.header
        let vmKey = Self.mix(seed ^ Self.mix(UInt64(m.index) &+ 0xF1EE7))
        let threshold: UInt64 =
            privateFraction >= 1 ? .max : UInt64(privateFraction * 18_446_744_073_709_551_615.0)
        var capture = CaptureFacts(
            source: "gen-fleet", hash: h.capture.hash, accesses: h.capture.accesses,
            details: [
                "template.trace": URL(fileURLWithPath: t.trace).lastPathComponent, "template.vm": "\(t.vm.id)",
                "template.name": t.vm.name, "shiftMicros": "\(m.shiftMicros)", "lengthMicros": "\(m.lengthMicros)",
                "seed": "\(seed)", "privateFraction": "\(privateFraction)", "fleetIndex": "\(m.index)",
            ])
        capture.compression = h.capture.compression
        let header = TraceHeader(
            pageSize: h.pageSize, vms: [VMDecl(id: 0, name: m.name, pages: t.vm.pages)], capture: capture)
        let pages = Int(t.vm.pages)
        if let problem = MemoryBudget.problem(Double(pages) * 13, for: "a fleet VM of \(pages) pages (13 bytes a page)")
        {
            throw TraceError(file: t.trace, .limitExceeded(problem))
        }
        // The template VM's state up to the shift: 0 untouched, 1 written (content unknown), 2 known.
        var state = [UInt8](repeating: 0, count: pages)
        var hash = [UInt64](repeating: 0, count: pages)
        var size = [UInt32](repeating: 0, count: pages)
        var on = true
        let sink = try TraceSinks.open(path: path, header: header, level: level)
        do {
            let start = m.shiftMicros, end = m.shiftMicros + m.lengthMicros
            var snapshotDone = false
            func snapshot() throws(TraceError) {
                snapshotDone = true
                guard on else { return }
                var p = 0
                while p < pages {
                    switch state[p] {
                    case 1:
                        var q = p + 1
                        while q < pages, state[q] == 1 { q += 1 }
                        try sink.append(
                            TraceRecord(
                                time: .zero, vm: VMID(0), kind: .write, ppn: PPN(UInt32(p)), count: UInt32(q - p)))
                        p = q
                    case 2 where hash[p] == 0:
                        var q = p + 1
                        while q < pages, state[q] == 2, hash[q] == 0 { q += 1 }
                        try sink.append(
                            TraceRecord(
                                time: .zero, vm: VMID(0), kind: .zero, ppn: PPN(UInt32(p)), count: UInt32(q - p)))
                        p = q
                    case 2:
                        try sink.append(
                            TraceRecord(
                                time: .zero, vm: VMID(0), kind: .content, ppn: PPN(UInt32(p)),
                                hash: ContentHash(Self.remap(hash[p], vmKey: vmKey, threshold: threshold)),
                                compressedSize: size[p]))
                        p += 1
                    default:
                        p += 1
                    }
                }
                state = []
                hash = []
                size = []
            }
            var batch: [TraceRecord] = []
            reading: while try r.next(into: &batch) {
                for x in batch where x.vm.rawValue == t.vm.id {
                    let time = x.time.rawValue
                    if time <= start {
                        let first = Int(x.ppn.rawValue), last = first + Int(x.count)
                        switch x.kind {
                        case .read:
                            for p in first..<last where state[p] == 0 {
                                state[p] = 2
                                hash[p] = 0
                            }
                        case .write: for p in first..<last { state[p] = 1 }
                        case .content:
                            state[first] = 2
                            hash[first] = x.hash.rawValue
                            size[first] = x.compressedSize
                        case .zero:
                            for p in first..<last {
                                state[p] = 2
                                hash[p] = 0
                            }
                        case .powerOff:
                            on = false
                            for p in 0..<pages { state[p] = 0 }
                        case .powerOn: on = true
                        case .free: break
                        }
                        continue
                    }
                    if !snapshotDone { try snapshot() }
                    if time > end { break reading }
                    var y = x
                    y.vm = VMID(0)
                    y.time = Micros(time - start)
                    if y.kind == .content {
                        y.hash = ContentHash(Self.remap(y.hash.rawValue, vmKey: vmKey, threshold: threshold))
                    }
                    try sink.append(y)
                }
            }
            if !snapshotDone { try snapshot() }
            return try sink.finish()
        } catch {
            sink.abandon()
            throw error
        }
    }
}
