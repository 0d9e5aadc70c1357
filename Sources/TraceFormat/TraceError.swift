/// Everything that can be wrong with a trace, with the context a user needs to find it.
///
/// `description` is the one line the CLI prints: the file, where (record index, line, byte
/// offset in the decompressed stream, offset in the compressed file), and what was wrong.
public struct TraceError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        case emptyFile
        case badMagic(found: String)
        case unsupportedVersion(found: UInt16, highestSupported: UInt16)
        case invalidHeader(String)
        case truncated(String)
        case corruptCompressed(String)
        case overlongVarint
        case unknownOpcode(UInt8)
        case undeclaredVM(UInt32)
        case noVMSelected
        case ppnOutOfRange(vm: UInt32, ppn: UInt64, count: UInt64, pages: UInt64)
        case timeBackwards(previous: UInt64, found: UInt64)
        case timeOverflow
        case malformed(String)
        case limitExceeded(String)
        case chunkMismatch(String)
        case footerMismatch(String)
        case io(String)
    }

    public var file: String
    public var problem: Problem
    /// Index of the event record (0-based) at or after which the problem was found.
    public var record: UInt64?
    /// 1-based line number, for text traces.
    public var line: UInt64?
    /// Byte offset in the decompressed (raw) stream.
    public var offset: UInt64?
    /// Byte offset in the file as stored, when it is zstd-compressed.
    public var compressedOffset: UInt64?

    public init(
        file: String, _ problem: Problem, record: UInt64? = nil, line: UInt64? = nil,
        offset: UInt64? = nil, compressedOffset: UInt64? = nil
    ) {
        self.file = file
        self.problem = problem
        self.record = record
        self.line = line
        self.offset = offset
        self.compressedOffset = compressedOffset
    }

    public var description: String {
        var whereParts: [String] = []
        if let record { whereParts.append("record \(record)") }
        if let line { whereParts.append("line \(line)") }
        if let offset { whereParts.append("byte \(offset)") }
        if let compressedOffset { whereParts.append("compressed byte \(compressedOffset)") }
        let location = whereParts.isEmpty ? "" : " " + whereParts.joined(separator: ", ") + ":"
        return "\(file):\(location) \(problem.message)"
    }
}

extension TraceError.Problem {
    public var message: String {
        switch self {
        case .emptyFile: return "empty file: not a trace"
        case .badMagic(let found): return "not a tracetool trace (bad magic \(found))"
        case .unsupportedVersion(let found, let highest):
            return "format version \(found) is newer than this tracetool reads (up to \(highest))"
        case .invalidHeader(let s): return "invalid header: \(s)"
        case .truncated(let s): return "truncated: \(s)"
        case .corruptCompressed(let s): return "corrupt zstd data: \(s)"
        case .overlongVarint: return "over-long varint (more than 64 bits)"
        case .unknownOpcode(let op): return "unknown record opcode 0x\(String(op, radix: 16))"
        case .undeclaredVM(let id): return "VM \(id) is not declared"
        case .noVMSelected: return "record before any VM select in its chunk"
        case .ppnOutOfRange(let vm, let ppn, let count, let pages):
            if count > 1 {
                return "pages \(ppn)..\(ppn &+ count &- 1) out of range for VM \(vm) (\(pages) pages)"
            }
            return "PPN \(ppn) out of range for VM \(vm) (\(pages) pages)"
        case .timeBackwards(let prev, let found): return "time goes backwards (\(found) after \(prev))"
        case .timeOverflow: return "time overflows 64 bits"
        case .malformed(let s): return s
        case .limitExceeded(let s): return s
        case .chunkMismatch(let s): return "bad chunk: \(s)"
        case .footerMismatch(let s): return "footer does not match the body: \(s)"
        case .io(let s): return s
        }
    }
}
