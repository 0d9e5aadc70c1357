import Foundation
import TraceFormat

/// Drives an engine from a trace reader: batches in, `--until` and `--settle` honoured.
public struct Replayer {
    public var until: Micros?
    public var settle: Micros = .zero
    /// Called after every batch with the reader's progress (for a progress line), on the
    /// calling thread.
    public var progress: ((ReadPosition) -> Void)?
    /// Batches decoded ahead of the engine at most: decoding runs on a second thread (the
    /// engine sees the same batches in the same order, so results do not depend on it).
    public static let batchesAhead = 3
    public init() {}

    /// VMs whose first record is a power-on start off (FORMAT.md: a VM with no ON is on from
    /// time 0). Found from the binary footer when it says so, else by one pass over the trace.
    public static func vmsStartingOff(path: String) throws(TraceError) -> Set<UInt32> {
        let reader = try TraceFile.open(path)
        var firstSeen = Set<UInt32>()
        var off = Set<UInt32>()
        var batch: [TraceRecord] = []
        let n = reader.header.vms.count
        // A stored footer with no power-on record answers without a pass over the trace.
        if reader.encoding == .binary, let footer = try TraceFile.storedFooter(path), footer.kinds.powerOn == 0 {
            return []
        }
        while try reader.next(into: &batch) {
            for r in batch where firstSeen.insert(r.vm.rawValue).inserted {
                if r.kind == .powerOn { off.insert(r.vm.rawValue) }
            }
            if firstSeen.count == n { break }
        }
        return off
    }

    public enum Failure: Error, CustomStringConvertible {
        case trace(TraceError)
        case model(ReplayError)
        public var description: String {
            switch self {
            case .trace(let e): return e.description
            case .model(let e): return e.description
            }
        }
    }

    /// Replays every record of `reader` (up to `until`), then runs the clock on for `settle`.
    public func run(_ reader: any TraceReader, engine: ReplayEngine) throws(Failure) {
        let source = ReadAhead(reader, depth: Self.batchesAhead)
        defer { source.stop() }
        var last = Micros.zero
        while true {
            let item: Batch
            do { item = try source.next() } catch { throw .trace(error) }
            guard let batch = item.records else { break }
            var end = batch.endIndex
            if let until, let cut = batch.firstIndex(where: { $0.time > until }) { end = cut }
            do { try engine.apply(contentsOf: batch[..<end]) } catch {
                var e = error
                e.file = reader.path
                throw .model(e)
            }
            if end > 0 { last = batch[end - 1].time }
            progress?(item.position)
            source.recycle(batch)
            if end < batch.endIndex { break }
        }
        let traced = until ?? last
        let end = Micros(traced.rawValue + settle.rawValue)
        do { try engine.finish(tracedUntil: traced, settleUntil: end) } catch {
            var e = error
            e.file = reader.path
            throw .model(e)
        }
    }
}

