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
    /// first record is a power-on. Standard input (`-`) is read once: its first records are
    /// held until every VM has shown its first one (at most `stdinLookahead`), then handed out
    /// again ahead of the rest.
    public static func open(_ path: String) throws(TraceError) -> TraceInput {
        let reader = try TraceFile.open(path)
        if path == TraceFile.stdinPath {
            let peeked = try LookaheadReader(reader, limit: stdinLookahead)
            return TraceInput(reader: peeked, startsOff: peeked.startsOff)
        }
        if let footer = reader.storedFooter, footer.kinds.powerOn == 0 {
            return TraceInput(reader: reader, startsOff: [])
        }
        return TraceInput(reader: reader, startsOff: try vmsStartingOff(path: path))
    }

    /// Records held from standard input while looking for each VM's first record (about 200 MB).
    public static let stdinLookahead = 1 << 22

    /// The VMs whose first record is a power-on, by a pass over the trace until every VM has
    /// been seen.
    public static func vmsStartingOff(path: String) throws(TraceError) -> Set<UInt32> {
        let reader = try TraceFile.open(path)
        var first = FirstRecords(vms: reader.header.vms.count)
        var batch: [TraceRecord] = []
        while !first.complete, try reader.next(into: &batch) { first.note(batch) }
        return first.startsOff
    }

    /// The host a run of this trace gets (HostConfig.resolve).
    public func host(policy: Policy, spec: HostSpec) throws(ConfigError) -> HostConfig {
        try HostConfig.resolve(header: reader.header, policy: policy, spec: spec, startsOff: startsOff)
    }
}

/// A reader that reads ahead until every VM of the header has shown its first record, notes the
/// VMs whose first record is a power-on, and then hands out the held records before the rest:
/// one pass over a stream that cannot be read twice.
final class LookaheadReader: TraceReader {
    private let inner: any TraceReader
    private var held: [[TraceRecord]] = []
    private var handedOut: UInt64 = 0
    let startsOff: Set<UInt32>

    init(_ inner: any TraceReader, limit: Int) throws(TraceError) {
        self.inner = inner
        var first = FirstRecords(vms: inner.header.vms.count)
        var count = 0
        while !first.complete {
            var batch: [TraceRecord] = []
            guard try inner.next(into: &batch) else { break }
            first.note(batch)
            count += batch.count
            held.append(batch)
            if !first.complete && count >= limit {
                let missing = inner.header.vms.first { !first.seen.contains($0.id) }!
                throw TraceError(
                    file: inner.path,
                    .limitExceeded(
                        "VM \(missing.id) (\(missing.name)) has no record in the first \(count) records; a trace read from stdin must show every VM's first record within \(limit) records (whether it starts powered off): save it to a file and replay that"
                    ), record: UInt64(count))
            }
        }
        startsOff = first.startsOff
        held.reverse()
    }

    var path: String { inner.path }
    var header: TraceHeader { inner.header }
    var encoding: TraceEncoding { inner.encoding }
    var recordsRead: UInt64 { held.isEmpty ? inner.recordsRead : handedOut }
    var rawOffset: UInt64 { inner.rawOffset }
    var fileOffset: UInt64 { inner.fileOffset }
    var footer: TraceFooter? { inner.footer }
    var storedFooter: TraceFooter? { inner.storedFooter }

    func next(into batch: inout [TraceRecord]) throws(TraceError) -> Bool {
        if let b = held.popLast() {
            batch = b
            handedOut += UInt64(b.count)
            return true
        }
        return try inner.next(into: &batch)
    }
}

/// Each VM's first record, as a trace's batches go by: the VMs that have shown one, and those
/// whose first record is a power-on (they start powered off).
struct FirstRecords {
    let vms: Int
    private(set) var seen = Set<UInt32>()
    private(set) var startsOff = Set<UInt32>()

    init(vms: Int) { self.vms = vms }

    /// Every VM of the header has shown its first record.
    var complete: Bool { seen.count >= vms }

    mutating func note(_ batch: [TraceRecord]) {
        for r in batch where seen.insert(r.vm.rawValue).inserted {
            if r.kind == .powerOn { startsOff.insert(r.vm.rawValue) }
        }
    }
}
