import Foundation
@testable import Replay
import TraceFormat

/// A host with `vms` VMs of the given page counts and no memory pressure.
func makeEngine(
    pages: [UInt64], policy: Policy = Policy(), overheadMiB: Double = 0, spec: HostSpec = HostSpec()
) throws -> ReplayEngine {
    var p = policy
    p.overhead = overheadMiB
    let header = TraceHeader(
        vms: pages.enumerated().map { VMDecl(id: UInt32($0), name: "vm\($0)", pages: $1) },
        capture: CaptureFacts(source: "test"))
    let host = try HostConfig.resolve(header: header, policy: p, spec: spec)
    let e = try ReplayEngine(host: host, policy: p)
    e.checkFullEveryStep = true
    return e
}

func rec(
    _ t: UInt64, _ vm: UInt32, _ kind: RecordKind, _ ppn: UInt32 = 0, count: UInt32 = 1, hash: UInt64 = 0
) -> TraceRecord {
    TraceRecord(time: Micros(t), vm: VMID(vm), kind: kind, ppn: PPN(ppn), count: count, hash: ContentHash(hash))
}

extension ReplayEngine {
    func state(_ vm: Int, _ ppn: UInt32) -> PageState { PageState.of(vms[vm].entry[Int(ppn)]) }
    /// The frame of a shared PPN.
    func frame(_ vm: Int, _ ppn: UInt32) -> FrameIndex { vms[vm].frame(Int(ppn)) }
    func counters(_ vm: Int) -> VMCounters { vms[vm].counters }
    func share(_ vm: Int, _ ppn: UInt32) -> Bool { tryShare(vms[vm], ppn: ppn) }
}

/// A policy whose scanner covers `pagesPerSecond` candidates per VM each second, uncapped.
func fastScan(_ pagesPerSecond: Double, hashBits: Int = 64, sharing: SharingName = .on, seed: UInt64 = 1) -> Policy {
    var p = Policy()
    p.shareScanVM = pagesPerSecond
    p.shareScanTotal = pagesPerSecond * 1000
    p.hashBits = hashBits
    p.sharing = sharing
    p.seed = seed
    return p
}
