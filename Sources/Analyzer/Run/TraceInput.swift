import Foundation
import Replay
import TraceFormat

/// A trace opened for replay: its reader, and the VMs that start powered off (FORMAT.md: a VM
/// with no ON record is on from time 0; one whose first record is an ON starts off).
public struct TraceInput {
    public let reader: any TraceReader
    public let startsOff: Set<UInt32>

    /// Opens `path` once. A binary trace whose stored footer counts no power-on record starts
    /// every VM on; otherwise one pass over the trace's first records finds the VMs whose
    /// first record is a power-on.
    public static func open(_ path: String) throws(TraceError) -> TraceInput {
        let reader = try TraceFile.open(path)
        if let footer = reader.storedFooter, footer.kinds.powerOn == 0 {
            return TraceInput(reader: reader, startsOff: [])
        }
        return TraceInput(reader: reader, startsOff: try vmsStartingOff(path: path))
    }

    /// The VMs whose first record is a power-on, by a pass over the trace until every VM has
    /// been seen.
    public static func vmsStartingOff(path: String) throws(TraceError) -> Set<UInt32> {
        let reader = try TraceFile.open(path)
        var firstSeen = Set<UInt32>()
        var off = Set<UInt32>()
        var batch: [TraceRecord] = []
        let n = reader.header.vms.count
        while try reader.next(into: &batch) {
            for r in batch where firstSeen.insert(r.vm.rawValue).inserted {
                if r.kind == .powerOn { off.insert(r.vm.rawValue) }
            }
            if firstSeen.count == n { break }
        }
        return off
    }

    /// The host a run of this trace gets (HostConfig.resolve).
    public func host(policy: Policy, spec: HostSpec) throws(ConfigError) -> HostConfig {
        try HostConfig.resolve(header: reader.header, policy: policy, spec: spec, startsOff: startsOff)
    }
}
