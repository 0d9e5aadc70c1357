/// Writes the canonical text form: the `hash` line (when the header names a hash), every `vm`
/// line in header order, then one line per record, runs kept, lowercase hex, optional fields
/// omitted when they hold their default. Plain text only; compress the result with zstd if
/// wanted (readers accept both).
public final class TextTraceWriter: TraceSink {
    public let header: TraceHeader
    private let out: AtomicOutput
    @exclusivity(unchecked) private var checker: SinkChecker
    @exclusivity(unchecked) private var line: [UInt8] = []
    @exclusivity(unchecked) private var finished = false

    public init(path: String, header: TraceHeader) throws(TraceError) {
        try header.validate(file: path)
        self.header = header
        checker = SinkChecker(path: path, header: header)
        out = try AtomicOutput(path: path)
        var head = ""
        if let h = header.capture.hash { head += "hash,\(h.algorithm)\n" }
        if let c = header.capture.compression { head += "compression,\(c)\n" }
        for vm in header.vms {
            head += "vm,\(vm.id),\(vm.name),\(vm.pages)"
            let ps = vm.pageSize ?? header.pageSize
            if ps != 4096 { head += ",\(ps)" }
            if let m = vm.minPages { head += ",min=\(m)" }
            if let sh = vm.shares { head += ",shares=\(sh)" }
            head += "\n"
        }
        try out.write(head)
        line.reserveCapacity(96)
    }

    @inline(__always)
    private func put(_ v: UInt64) {
        if v < 10 { line.append(0x30 + UInt8(v)); return }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var v = v
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 { d[n] = 0x30 + UInt8(v % 10); v /= 10; n += 1 }
            while n > 0 { n -= 1; line.append(d[n]) }
        }
    }

    private func put(_ s: String) { line.append(contentsOf: s.utf8) }

    public func append(_ r: TraceRecord) throws(TraceError) {
        _ = try checker.check(r)
        line.removeAll(keepingCapacity: true)
        put(r.time.rawValue); line.append(0x2C)
        put(UInt64(r.vm.rawValue)); line.append(0x2C)
        switch r.kind {
        case .powerOn, .powerOff:
            put(r.kind.textName)
        case .read, .write:
            if r.hasVirtual {
                put(r.kind == .read ? "RV," : "WV,")
                put(UInt64(r.ppn.rawValue)); line.append(0x2C)
                put(UInt64(r.asid.rawValue)); line.append(0x2C)
                put(r.vpn.rawValue)
            } else {
                put(r.kind.textName); line.append(0x2C)
                put(UInt64(r.ppn.rawValue))
                if r.count != 1 { line.append(0x2C); put(UInt64(r.count)) }
            }
        case .zero, .free:
            put(r.kind.textName); line.append(0x2C)
            put(UInt64(r.ppn.rawValue))
            if r.count != 1 { line.append(0x2C); put(UInt64(r.count)) }
        case .content:
            put("C,")
            put(UInt64(r.ppn.rawValue)); line.append(0x2C)
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            for i in stride(from: 60, through: 0, by: -4) {
                line.append(hex[Int((r.hash.rawValue >> UInt64(i)) & 0xF)])
            }
            if r.compressedSize > 0 { line.append(0x2C); put(UInt64(r.compressedSize)) }
        }
        line.append(0x0A)
        try out.write(line)
    }

    @discardableResult
    public func finish() throws(TraceError) -> TraceFooter {
        precondition(!finished, "finish() called twice")
        finished = true
        try out.commit()
        return checker.footer
    }

    public func abandon() {
        finished = true
        out.abandon()
    }
}

/// Chooses a writer from the output path: `.txt` or `.csv` (optionally followed by nothing
/// else) gives text, anything else binary.
public enum TraceSinks {
    public static func isTextPath(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".txt") || lower.hasSuffix(".csv")
    }

    public static func open(path: String, header: TraceHeader, level: Int32 = 3) throws(TraceError) -> any TraceSink {
        if isTextPath(path) { return try TextTraceWriter(path: path, header: header) }
        return try BinaryTraceWriter(path: path, header: header, level: level)
    }

    /// Copies every record of `reader` into a new file at `path`; the output replaces `path`
    /// only once complete. With `onlyVMs`, the output declares and keeps only those VMs (by id,
    /// ids unchanged); every id must be declared in the input.
    @discardableResult
    public static func copy(
        from reader: any TraceReader, to path: String, header: TraceHeader? = nil,
        level: Int32 = 3, onlyVMs: [UInt32]? = nil
    ) throws(TraceError) -> TraceFooter {
        var outHeader = header ?? reader.header
        // Kept VMs by their position in the input header, found through the header's own index.
        var keep: (index: VMIndexMap, byPosition: [Bool])? = nil
        if let ids = onlyVMs {
            let index = VMIndexMap(outHeader.vms)
            var byPosition = [Bool](repeating: false, count: outHeader.vms.count)
            for id in ids {
                guard let i = index[id] else {
                    throw TraceError(
                        file: path,
                        .invalidHeader(
                            "VM \(id) is not declared in the input (VMs: \(outHeader.vms.map { String($0.id) }.joined(separator: ", ")))"
                        ))
                }
                byPosition[i] = true
            }
            outHeader.vms = outHeader.vms.indices.filter { byPosition[$0] }.map { outHeader.vms[$0] }
            keep = (index, byPosition)
        }
        let sink = try open(path: path, header: outHeader, level: level)
        var batch: [TraceRecord] = []
        do {
            while try reader.next(into: &batch) {
                if let k = keep {
                    for r in batch where k.index[r.vm.rawValue].map({ k.byPosition[$0] }) == true { try sink.append(r) }
                } else {
                    for r in batch { try sink.append(r) }
                }
            }
        } catch {
            sink.abandon()
            throw error
        }
        return try sink.finish()
    }
}
