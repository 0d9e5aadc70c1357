import TraceFormat

/// Free page reporting (docs/MODEL.md "Free page reporting"), as virtio-balloon's does it in
/// Linux: the guest hands whole aligned blocks of free pages (`freePageBlock`, 2 MiB: 512 pages
/// of 4 KiB) back to the host once they have stayed free for `freePageDelay`, with no balloon.
/// A reported page
/// holds nothing: the host's memory or swap slot behind it is released, and the guest's next
/// use of it is a demand-zero fault (counted as a reuse).
///
/// Contract: a block is reported at the first one-second tick at which every page in it is free
/// in the guest (its last FREE record not followed by a touch; ballooned pages count as free)
/// and its last FREE record is at least `freePageDelay` old. Only blocks wholly inside the VM
/// are reported. Pages already untouched cost nothing and are not counted as reported.
struct FreePageReporter {
    /// Pages per block: `freePageBlock` of pages (at least 1).
    let blockPages: Int
    /// Per block: 1 + the time of its last FREE record (µs), 0 when none since the last check
    /// (a block is in `candidates` exactly when it is not 0).
    var lastFree: [UInt64]
    /// Blocks with a FREE record not yet checked, in the order they were first freed.
    var candidates: [UInt32] = []
    /// Per page: reported and not used since.
    var reported: [UInt64]

    init(pages: Int, pageSize: UInt64, blockKiB: Double) {
        blockPages = max(1, Int((blockKiB * 1024 / Double(max(pageSize, 1))).rounded(.down)))
        let blocks = pages / blockPages
        lastFree = Array(repeating: 0, count: blocks)
        reported = Array(repeating: 0, count: (pages + 63) / 64)
    }

    @inline(__always) func isReported(_ p: Int) -> Bool { reported[p >> 6] & (1 << UInt64(p & 63)) != 0 }
    @inline(__always) mutating func setReported(_ p: Int, _ on: Bool) {
        if on { reported[p >> 6] |= 1 << UInt64(p & 63) } else { reported[p >> 6] &= ~(1 << UInt64(p & 63)) }
    }

    /// The guest freed pages first ..< first + count at `time`.
    mutating func freed(_ first: Int, _ count: Int, at time: Micros) {
        guard !lastFree.isEmpty else { return }
        var b = first / blockPages
        let last = min((first + count - 1) / blockPages, lastFree.count - 1)
        while b <= last {
            if lastFree[b] == 0 { candidates.append(UInt32(b)) }
            lastFree[b] = time.rawValue &+ 1
            b += 1
        }
    }

    mutating func reset() {
        for i in lastFree.indices { lastFree[i] = 0 }
        for i in reported.indices { reported[i] = 0 }
        candidates.removeAll()
    }
}

/// Free page reporting as a mechanism: one reporter per VM, told of FREE records and of pages
/// backed again; at each one-second tick, before reclamation, it reports the blocks that are
/// ready. Not steady while a freed block waits out its delay.
final class FreePageReporting: EngineMechanism, PageWatcher {
    static func make(_ policy: Policy) -> (any EngineMechanism)? {
        policy.freePageReporting == .on ? FreePageReporting(policy: policy) : nil
    }

    let policy: Policy
    /// Per VM (by index): its reporter, and the pages reported and reused so far.
    private var reporters: [FreePageReporter] = []
    private(set) var counts: [FreePageReportingCounts] = []

    init(policy: Policy) { self.policy = policy }

    static let knobs: [PolicyKnob] = [
        .choice(
            "freePageReporting", ["on", "off"], default: "off", after: "balloonRate",
            help:
                "hand whole aligned 2 MiB blocks the guest freed back to the host (virtio-balloon free page reporting)"),
        .duration(
            "freePageDelay", default: 2, range: 0...Policy.maxPeriod, after: "freePageReporting",
            help: "how long a freed block stays free before it is reported"),
        .number(
            "freePageBlock", unit: "KiB", default: 2048, range: 1...1_073_741_824, after: "freePageDelay",
            help: "the aligned block free page reporting hands back whole"),
    ]

    func attach(_ engine: ReplayEngine) {
        for vm in engine.vms {
            reporters.append(
                FreePageReporter(pages: vm.pageCount, pageSize: engine.host.pageSize, blockKiB: policy.freePageBlock))
            counts.append(FreePageReportingCounts())
        }
    }

    func guestFreed(_ engine: ReplayEngine, _ vm: VMState, first: Int, count: Int) {
        reporters[vm.index].freed(first, count, at: engine.now)
    }

    /// Reports every candidate block that is wholly free and old enough (one-second tick).
    func beforeReclaim(_ engine: ReplayEngine) {
        let delay = UInt64((policy.freePageDelay * 1e6).rounded())
        let now = engine.now
        for vm in engine.vms where vm.on {
            guard !reporters[vm.index].candidates.isEmpty else { continue }
            var keep: [UInt32] = []
            for b in reporters[vm.index].candidates {
                let block = Int(b)
                let freedAt = reporters[vm.index].lastFree[block] - 1
                if now.rawValue < freedAt || now.rawValue - freedAt < delay { keep.append(b); continue }
                let n = reporters[vm.index].blockPages
                let range = (block * n)..<(block * n + n)
                let free = range.allSatisfy { p in
                    vm.flags[p] & PageFlag.guestFreed != 0 || PageState.of(vm.entry[p]) == .ballooned
                }
                reporters[vm.index].lastFree[block] = 0
                guard free else { continue }
                for p in range { report(engine, vm, UInt32(p)) }
            }
            reporters[vm.index].candidates = keep
        }
    }

    /// Hands one free guest page back to the host: whatever backs it is released and the page
    /// becomes untouched, holding nothing (its next use is a demand-zero fill).
    private func report(_ engine: ReplayEngine, _ vm: VMState, _ q: UInt32) {
        let i = Int(q)
        let e = vm.entry[i]
        if vm.flags[i] & PageFlag.hinted != 0 { engine.dropHint(vm, ppn: q) }
        switch PageState.of(e) {
        case .untouched, .ballooned:
            return
        case .privateMPN, .shared:
            engine.releaseResident(vm, ppn: q, e)
        case .swapped:
            engine.swap.release()
            vm.swappedPages -= 1
        case .tiered:
            vm.tier?.remove(engine, vm, q)
        }
        engine.changeEpoch &+= 1
        engine.invalidateShadow(vm, ppn: q)
        vm.entry[i] = 0
        vm.hash[i] = 0
        vm.tier?.forget(i)
        // Still free in the guest; nothing known, nothing to read back.
        vm.flags[i] &= PageFlag.guestFreed | PageFlag.stampMask
        reporters[vm.index].setReported(i, true)
        counts[vm.index].reportedPages += 1
    }

    /// A reported page is backed again (a fault or a content record): a reuse.
    func becamePrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {
        let i = Int(ppn)
        if reporters[vm.index].isReported(i) {
            reporters[vm.index].setReported(i, false)
            counts[vm.index].reusedPages += 1
        }
    }

    func ballooned(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {
        reporters[vm.index].setReported(Int(ppn), false)
    }

    func poweredOff(_ engine: ReplayEngine, _ vm: VMState) { reporters[vm.index].reset() }

    /// A freed block waiting out its delay will be reported: not steady.
    func isSteady(_ engine: ReplayEngine) -> Bool {
        !engine.vms.contains { $0.on && !reporters[$0.index].candidates.isEmpty }
    }

    /// A page marked reported is untouched.
    func checkInvariants(_ engine: ReplayEngine) throws(ReplayError) {
        for vm in engine.vms {
            for i in 0..<vm.pageCount where reporters[vm.index].isReported(i) && PageState.of(vm.entry[i]) != .untouched
            {
                throw engine.fail("VM \(vm.config.id) PPN \(i) is marked reported but is \(PageState.of(vm.entry[i]))")
            }
        }
    }

    func report(_ engine: ReplayEngine, _ vm: VMState) -> (any Sendable)? { counts[vm.index] }
}

/// What free page reporting did to one VM (`MechanismReports`): guest pages handed back to
/// the host, and of those, pages the guest used again (each a demand-zero fill).
public struct FreePageReportingCounts: Sendable, Equatable {
    public var reportedPages: UInt64 = 0
    public var reusedPages: UInt64 = 0
    public init() {}
}

extension Policy {
    /// `freePageReporting`, `freePageDelay` (s) and `freePageBlock` (KiB; Linux: the page-block
    /// order, 2 MiB on x86-64).
    public var freePageReporting: Switch {
        get { Switch(rawValue: name("freePageReporting"))! }
        set { setExtra("freePageReporting", .name(newValue.rawValue)) }
    }
    public var freePageDelay: Double {
        get { number("freePageDelay") }
        set { setExtra("freePageDelay", .number(newValue)) }
    }
    public var freePageBlock: Double {
        get { number("freePageBlock") }
        set { setExtra("freePageBlock", .number(newValue)) }
    }
}
