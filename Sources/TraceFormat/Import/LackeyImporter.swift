/// Imports the memory trace that valgrind's lackey tool prints with `--trace-mem=yes`.
///
/// Lines look like `I  0401d090,3` (instruction fetch), ` L 1ffefffe08,8` (load),
/// ` S …` (store) and ` M …` (modify: load then store); everything else (`==pid==` banners,
/// program output) is skipped. The process becomes one VM: every distinct 4 KiB virtual page
/// gets a guest-physical page, numbered in order of first use, and each access becomes an
/// `RV`/`WV` record in address space 0 (an access that spans a page boundary names both
/// pages). `I` and `L` are reads, `S` and `M` writes. lackey has no clock: each access line
/// advances simulated time by `microsPerAccess` (1 µs by default).
public struct LackeyImporter {
    public var pageShift: UInt64 = 12
    public var microsPerAccess: UInt64 = 1
    public var vmName = "process"

    public init() {}

    struct Access {
        var write: Bool
        var firstPage: UInt64
        var lastPage: UInt64
    }

    static func parse(_ line: LineScanner.Line, pageShift: UInt64) -> Access? {
        // Lackey lines have no commas but the address,size separator, so the scanner gives
        // two fields: "<sp>K<sp>addr" and "size".
        guard line.fields.count == 2 else { return nil }
        let a = line.fields[0]
        guard a.count >= 4 else { return nil }
        var i = 0
        var kind: UInt8 = 0
        // Either "I  addr" or " X addr".
        if a[i] == 0x49 {
            kind = 0x49; i += 1
        } else if a[i] == 0x20 {
            i += 1
            let k = a[i]
            guard k == 0x4C || k == 0x53 || k == 0x4D else { return nil }
            kind = k
            i += 1
        } else {
            return nil
        }
        while i < a.count && a[i] == 0x20 { i += 1 }
        guard i < a.count else { return nil }
        var addr: UInt64 = 0
        var digits = 0
        while i < a.count {
            let b = a[i]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x61...0x66: d = b - 0x61 + 10
            case 0x41...0x46: d = b - 0x41 + 10
            default: return nil
            }
            guard digits < 16 else { return nil }
            addr = addr << 4 | UInt64(d)
            digits += 1
            i += 1
        }
        guard digits > 0, let size = TextTraceReader.parseUInt(line.fields[1]), size >= 1, size <= 4096 else {
            return nil
        }
        let (last, o) = addr.addingReportingOverflow(size - 1)
        if o { return nil }
        return Access(write: kind == 0x53 || kind == 0x4D, firstPage: addr >> pageShift, lastPage: last >> pageShift)
    }

    /// Reads `input` twice (pages first, then accesses) and writes the trace to `output`.
    @discardableResult
    public func importFile(_ input: String, to output: String, level: Int32 = 3) throws(TraceError) -> TraceFooter {
        // The last access's time must fit in 64 bits: accesses × microsPerAccess.
        // (Checked after pass 1, when the number of accesses is known.)
        // Pass 1: distinct pages, numbered in order of first use.
        var pages: [UInt64: UInt32] = [:]
        var accesses: UInt64 = 0
        var s = LineScanner(input: try InputOpener.open(input))
        while let line = try s.nextLine(path: input) {
            guard let a = LackeyImporter.parse(line, pageShift: pageShift) else { continue }
            accesses += 1
            var p = a.firstPage
            while true {
                if pages[p] == nil {
                    guard pages.count < Int(UInt32.max) else {
                        throw TraceError(
                            file: input, .limitExceeded("more than 2^32 distinct pages"), line: s.lineNumber)
                    }
                    pages[p] = UInt32(pages.count)
                }
                if p == a.lastPage { break }
                p += 1
            }
        }
        guard accesses > 0 else {
            throw TraceError(
                file: input, .malformed("no lackey access lines (run valgrind --tool=lackey --trace-mem=yes)"))
        }
        let header = TraceHeader(
            pageSize: UInt32(1) << UInt32(pageShift),
            vms: [VMDecl(id: 0, name: vmName, pages: UInt64(pages.count))],
            capture: CaptureFacts(
                source: "valgrind-lackey", accesses: "exact",
                details: ["input": input, "microsPerAccess": String(microsPerAccess)]))
        let (span, overflow) = (accesses > 0 ? accesses - 1 : 0).multipliedReportingOverflow(by: microsPerAccess)
        guard !overflow, span < UInt64.max else {
            throw TraceError(
                file: input,
                .limitExceeded(
                    "\(accesses) accesses at \(microsPerAccess) µs each overflow the 64-bit clock; use a smaller --micros-per-access"
                ))
        }
        let sink = try TraceSinks.open(path: output, header: header, level: level)
        // Pass 2: the records.
        s = LineScanner(input: try InputOpener.open(input))
        var time: UInt64 = 0
        while let line = try s.nextLine(path: input) {
            guard let a = LackeyImporter.parse(line, pageShift: pageShift) else { continue }
            var p = a.firstPage
            while true {
                let r = TraceRecord(
                    time: Micros(time), vm: VMID(0), kind: a.write ? .write : .read,
                    ppn: PPN(pages[p]!), virtual: (ASID(0), VPN(p)))
                try sink.append(r)
                if p == a.lastPage { break }
                p += 1
            }
            time &+= microsPerAccess  // wraps only after the last access (checked above)
        }
        return try sink.finish()
    }
}
