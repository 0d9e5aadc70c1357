/// Where records go: a binary or text trace writer. Writers check what they are given (known
/// VM, page in range, time not going back) so that every file they finish is valid.
public protocol TraceSink: AnyObject {
    var header: TraceHeader { get }
    func append(_ record: TraceRecord) throws(TraceError)
    /// Completes the file and renames it into place; returns the totals written.
    @discardableResult func finish() throws(TraceError) -> TraceFooter
    /// Gives up: the destination stays as it was and the partial output is deleted.
    func abandon()
}

/// Shared record checks and totals for writers.
struct SinkChecker {
    let path: String
    let header: TraceHeader
    private let index: VMIndexMap
    private var pages: [UInt64] = []
    private var lastTime: UInt64 = 0
    var footer: TraceFooter
    var count: UInt64 = 0

    init(path: String, header: TraceHeader) {
        self.path = path
        self.header = header
        index = VMIndexMap(header.vms)
        pages = header.vms.map(\.pages)
        footer = TraceFooter(vms: header.vms)
    }

    /// Returns the VM's index in the header.
    mutating func check(_ r: TraceRecord) throws(TraceError) -> Int {
        guard let i = index[r.vm.rawValue] else {
            throw TraceError(file: path, .undeclaredVM(r.vm.rawValue), record: count)
        }
        if r.time.rawValue < lastTime {
            throw TraceError(file: path, .timeBackwards(previous: lastTime, found: r.time.rawValue), record: count)
        }
        switch r.kind {
        case .read, .write, .zero, .free, .content:
            if r.count == 0 { throw TraceError(file: path, .malformed("run of 0 pages"), record: count) }
            if (r.kind == .content || r.hasVirtual) && r.count != 1 {
                throw TraceError(file: path, .malformed("\(r.kind.textName) record with a count"), record: count)
            }
            if r.hasVirtual && !r.kind.isAccess {
                throw TraceError(
                    file: path, .malformed("virtual address on a \(r.kind.textName) record"), record: count)
            }
            if UInt64(r.ppn.rawValue) + UInt64(r.count) > pages[i] {
                throw TraceError(
                    file: path,
                    .ppnOutOfRange(
                        vm: r.vm.rawValue, ppn: UInt64(r.ppn.rawValue),
                        count: UInt64(r.count), pages: pages[i]), record: count)
            }
        case .powerOn, .powerOff:
            break
        }
        lastTime = r.time.rawValue
        footer.count(r, vmIndex: i)
        count += 1
        return i
    }
}
