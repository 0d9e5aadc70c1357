import Foundation

/// `tracetool merge`: the VMs of several traces on one host, the inverse of `convert --vms`
/// (docs/FORMAT.md "Merging traces").
///
/// - VMs are renumbered 0…N−1 in input order (each input's VMs in its header order); names
///   are kept, and a name already taken gets `-2`, `-3`, … The map is returned and stored in
///   the header's `details` (`input.K.vm.OLD` = the new id).
/// - Every input must have the same page size (a host has one), the same hash algorithm when
///   they name one (sharing compares digests), and the same `accesses` (the model reads active
///   memory by it); content-size measurements (`compression`) that differ are joined with `+`.
/// - Time: every input starts at 0, shifted by its offset (`--offset`); a VM without a power-on
///   record is on from time 0 of the merge, as in any trace.
/// - Records are interleaved in time order by a streaming k-way merge: at equal times the
///   earlier input first, and within an input its own order. Memory holds one batch per input,
///   whatever the traces' lengths.
/// - Each input's capture facts are kept in `details` as `input.K.source`, `input.K.file`,
///   `input.K.offsetMicros`, `input.K.accesses` and `input.K.details.KEY`.
public enum TraceMerge {
    /// Inputs one merge may open at once.
    public static let maxInputs = 256

    public struct Input: Sendable {
        public var path: String
        public var offset: Micros
        /// Only these VMs of the input (its own ids), in its header's order; nil: all of them.
        /// Records of the others are skipped (`tracetool place` builds each host this way).
        public var vms: [UInt32]?
        public init(path: String, offset: Micros = .zero, vms: [UInt32]? = nil) {
            self.path = path
            self.offset = offset
            self.vms = vms
        }
    }

    public struct Mapping: Sendable, Equatable {
        public var input: Int
        public var file: String
        public var oldID: UInt32
        public var newID: UInt32
        public var name: String
    }

    /// The merged header and the VM map, from the inputs' headers.
    public static func header(
        _ inputs: [(path: String, header: TraceHeader, offset: Micros)], output: String
    )
        throws(TraceError) -> (TraceHeader, [Mapping])
    {
        /// A refusal names the input that does not fit (or the output, for the whole set).
        func refuse(_ s: String, _ file: String? = nil) -> TraceError {
            TraceError(file: file ?? output, .malformed("cannot merge: " + s))
        }
        guard inputs.count >= 1 else { throw refuse("no input traces") }
        guard inputs.count <= maxInputs else { throw refuse("\(inputs.count) inputs; at most \(maxInputs) at once") }
        let total = inputs.reduce(0) { $0 + $1.header.vms.count }
        guard total <= TraceLimits.maxVMs else {
            throw refuse("\(total) VMs in all; a trace holds at most \(TraceLimits.maxVMs)")
        }
        let first = inputs[0]
        func pageSizes(_ h: TraceHeader) -> Set<UInt32> { Set(h.vms.map { $0.pageSize ?? h.pageSize }) }
        var size: UInt32? = nil
        var hash: CaptureFacts.Hash? = nil
        var hashFrom = ""
        var compression: [String] = []
        for (path, h, _) in inputs {
            let sizes = pageSizes(h)
            for s in sizes.sorted() {
                if let size, size != s {
                    throw refuse(
                        "it has \(s)-byte pages, \(first.path) \(size)-byte ones: a host has one page size", path)
                }
                size = s
            }
            if let hh = h.capture.hash {
                if let hash, hash.algorithm != hh.algorithm {
                    throw refuse(
                        "it hashes content with \(hh.algorithm), \(hashFrom) with \(hash.algorithm): digests of different hashes cannot be compared",
                        path)
                }
                if hash == nil || hh.bits < hash!.bits { hash = hh }
                hashFrom = path
            }
            if h.capture.accesses != first.header.capture.accesses {
                throw refuse(
                    "it records accesses as \(h.capture.accesses), \(first.path) as \(first.header.capture.accesses): the model reads active memory by it",
                    path)
            }
            if let c = h.capture.compression, !compression.contains(c) { compression.append(c) }
        }
        var vms: [VMDecl] = []
        var map: [Mapping] = []
        var taken = Set<String>()
        var details: [String: String] = ["inputs": "\(inputs.count)"]
        for (k, (path, h, offset)) in inputs.enumerated() {
            let file = URL(fileURLWithPath: path).lastPathComponent
            for vm in h.vms {
                var name = vm.name
                var n = 2
                while taken.contains(name) {
                    name = "\(vm.name)-\(n)"
                    n += 1
                }
                taken.insert(name)
                let id = UInt32(vms.count)
                var d = vm
                d.id = id
                d.name = name
                d.pageSize = nil
                vms.append(d)
                map.append(Mapping(input: k, file: file, oldID: vm.id, newID: id, name: name))
                details["input.\(k).vm.\(vm.id)"] = "\(id)"
            }
            details["input.\(k).file"] = file
            details["input.\(k).source"] = h.capture.source
            details["input.\(k).accesses"] = h.capture.accesses
            details["input.\(k).offsetMicros"] = "\(offset.rawValue)"
            for (key, value) in h.capture.details ?? [:] { details["input.\(k).details.\(key)"] = value }
        }
        var capture = CaptureFacts(
            source: "merge", hash: hash, accesses: first.header.capture.accesses, details: details)
        capture.compression = compression.isEmpty ? nil : compression.joined(separator: "+")
        return (TraceHeader(pageSize: size ?? first.header.pageSize, vms: vms, capture: capture), map)
    }

    /// Merges the inputs into `output` (binary or text by its name, written atomically).
    public static func merge(
        _ inputs: [Input], to output: String, level: Int32 = 3
    ) throws(TraceError) -> (
        footer: TraceFooter, map: [Mapping]
    ) {
        // Before opening anything: every input holds buffers while it is open.
        guard inputs.count <= maxInputs else {
            throw TraceError(
                file: output, .malformed("cannot merge: \(inputs.count) inputs; at most \(maxInputs) at once"))
        }
        var readers: [any TraceReader] = []
        for i in inputs { readers.append(try TraceFile.open(i.path)) }
        // Each input's header with only the VMs it keeps.
        var headers = readers.map(\.header)
        for (i, input) in inputs.enumerated() {
            guard let keep = input.vms else { continue }
            let declared = Set(headers[i].vms.map(\.id))
            if let missing = keep.first(where: { !declared.contains($0) }) {
                throw TraceError(file: input.path, .malformed("cannot merge: VM \(missing) is not declared in it"))
            }
            let kept = Set(keep)
            headers[i].vms = headers[i].vms.filter { kept.contains($0.id) }
        }
        let (header, map) = try Self.header(
            zip(inputs, headers).map { ($0.path, $1, $0.offset) }, output: output)
        // Old VM id → new: the VM's place among its input's kept VMs (header order), after the
        // VMs of the inputs before it.
        let indexes = headers.map { VMIndexMap($0.vms) }
        let declared = readers.map { VMIndexMap($0.header.vms) }
        var firstID: [Int] = []
        var next = 0
        for h in headers {
            firstID.append(next)
            next += h.vms.count
        }
        let sink = try TraceSinks.open(path: output, header: header, level: level)
        let k = readers.count
        var batches = [[TraceRecord]](repeating: [], count: k)
        // An input is done when its batch is empty.
        var pos = [Int](repeating: 0, count: k)
        // What the decoded batches hold at once: one chunk per input. A chunk may hold up to
        // 2^24 records, so a few hostile inputs could ask for gigabytes: checked against the
        // memory budget as they arrive.
        var held = [Int](repeating: 0, count: k)
        var heldTotal = 0
        func refill(_ i: Int) throws(TraceError) {
            pos[i] = 0
            repeat {
                if !(try readers[i].next(into: &batches[i])) {
                    batches[i] = []
                    break
                }
            } while batches[i].isEmpty
            let bytes = batches[i].capacity * MemoryLayout<TraceRecord>.stride
            heldTotal += bytes - held[i]
            held[i] = bytes
            if let problem = MemoryBudget.problem(
                Double(heldTotal), for: "merging \(k) traces (one decoded chunk of each at once)")
            {
                throw TraceError(file: inputs[i].path, .limitExceeded(problem), record: readers[i].recordsRead)
            }
        }
        do throws(TraceError) {
            for i in 0..<k { try refill(i) }
            while true {
                // The earliest head; at equal times the earlier input.
                var best = -1
                var bestTime = UInt64.max
                for i in 0..<k where !batches[i].isEmpty {
                    let r = batches[i][pos[i]]
                    let (t, o) = r.time.rawValue.addingReportingOverflow(inputs[i].offset.rawValue)
                    if o {
                        // The index of this record in its input: what was read, less what is left.
                        let index = readers[i].recordsRead - UInt64(batches[i].count - pos[i])
                        throw TraceError(file: inputs[i].path, .timeOverflow, record: index)
                    }
                    if best < 0 || t < bestTime {
                        best = i
                        bestTime = t
                    }
                }
                if best < 0 { break }
                var r = batches[best][pos[best]]
                pos[best] += 1
                if pos[best] == batches[best].count { try refill(best) }
                guard let vi = indexes[best][r.vm.rawValue] else {
                    if declared[best][r.vm.rawValue] != nil { continue }  // a VM not kept
                    throw TraceError(file: inputs[best].path, .undeclaredVM(r.vm.rawValue))
                }
                r.vm = VMID(UInt32(firstID[best] + vi))
                r.time = Micros(bestTime)
                try sink.append(r)
            }
        } catch {
            sink.abandon()
            throw error
        }
        return (try sink.finish(), map)
    }
}
