import Foundation

/// A source of decoded records, binary or text. Records come in batches into an array the
/// caller reuses, so reading allocates nothing per record.
public protocol TraceReader: AnyObject {
    var path: String { get }
    var header: TraceHeader { get }
    /// `binary` or `text`.
    var encoding: TraceEncoding { get }
    /// Replaces the contents of `batch` with the next records; returns false at the end, after
    /// which `footer` holds the totals.
    func next(into batch: inout [TraceRecord]) throws(TraceError) -> Bool
    /// Event records handed out so far.
    var recordsRead: UInt64 { get }
    /// Raw (decompressed) bytes consumed so far.
    var rawOffset: UInt64 { get }
    /// Stored-file bytes consumed so far, for progress; equals `rawOffset` for plain files.
    var fileOffset: UInt64 { get }
    /// The totals: a binary trace's stored footer (checked against the body when verifying), or
    /// those counted while reading a text trace. Nil until the end.
    var footer: TraceFooter? { get }
    /// A binary trace's footer as stored, read through its seek table when the file was opened
    /// (nil for text traces and files without one): the totals before any record is decoded.
    var storedFooter: TraceFooter? { get }
}

/// How far a reader has got: a copy taken on the reading thread, for a progress line drawn on
/// another.
public struct ReadPosition: Sendable {
    public var recordsRead: UInt64
    public var fileOffset: UInt64
    public init(_ r: any TraceReader) {
        recordsRead = r.recordsRead
        fileOffset = r.fileOffset
    }
}

public enum TraceEncoding: String, Sendable {
    case binary, text
}

public struct ReadOptions: Sendable {
    /// Count totals while decoding and compare them with the binary footer.
    public var verifyFooter: Bool
    public init(verifyFooter: Bool = false) { self.verifyFooter = verifyFooter }
}

/// Opens traces of either encoding, detected by content (zstd or not, binary magic or text).
public enum TraceFile {
    /// The trace path that means standard input: a binary trace (zstd or not) read once, front
    /// to back.
    public static let stdinPath = "-"
    /// Standard input's name in messages and reports.
    public static let stdinName = "stdin"

    /// A trace path as messages give it: the path, or `stdin` for `-`.
    public static func shownPath(_ path: String) -> String { path == stdinPath ? stdinName : path }

    /// A trace's name in reports and progress lines: the file's name, or `stdin` for `-`.
    public static func displayName(_ path: String) -> String {
        path == stdinPath ? stdinName : URL(fileURLWithPath: path).lastPathComponent
    }

    public static func open(_ path: String, options: ReadOptions = ReadOptions()) throws(TraceError) -> any TraceReader
    {
        let input = try InputOpener.open(path)
        _ = try input.ensure(BinaryLayout.magic.count)
        if input.available == 0 { throw TraceError(file: input.path, .emptyFile) }
        let head = Array(input.bytes.prefix(BinaryLayout.magic.count))
        if head.first == BinaryLayout.magic[0] {
            return try BinaryTraceReader(input: input, options: options)
        }
        if looksLikeText(Array(input.bytes.prefix(512))) {
            guard input.seekable else {
                throw TraceError(
                    file: input.path,
                    .io(
                        "a text trace is read twice (its declarations first) and cannot come from stdin: convert it to a binary trace (tracetool convert) and pipe that"
                    ))
            }
            return try TextTraceReader(path: path, options: options)
        }
        throw TraceError(file: input.path, .badMagic(found: hex(head)), offset: 0)
    }

    /// Reads only what `info` needs: the header and the footer, using the seek table to jump to
    /// the footer frame when the file has one; otherwise decodes the whole trace.
    public static func summary(
        _ path: String
    ) throws(TraceError) -> (header: TraceHeader, footer: TraceFooter, encoding: TraceEncoding, usedSeekTable: Bool) {
        let reader = try open(path)
        if reader.encoding == .binary, path != stdinPath, let footer = try storedFooter(path) {
            return (reader.header, footer, .binary, true)
        }
        var batch: [TraceRecord] = []
        while try reader.next(into: &batch) {}
        return (reader.header, reader.footer!, reader.encoding, false)
    }

    /// A binary trace's footer read through its seek table, without decoding the body; nil when
    /// the file has no usable seek table (or is not binary).
    public static func storedFooter(_ path: String) throws(TraceError) -> TraceFooter? {
        try SeekTable.readFooter(path: path)
    }

    /// Decodes everything, checking every rule the format sets and the footer's totals.
    @discardableResult
    public static func validate(_ path: String) throws(TraceError) -> (header: TraceHeader, footer: TraceFooter) {
        let reader = try open(path, options: ReadOptions(verifyFooter: true))
        var batch: [TraceRecord] = []
        while try reader.next(into: &batch) {}
        return (reader.header, reader.footer!)
    }

    static func looksLikeText(_ bytes: [UInt8]) -> Bool {
        for b in bytes where b < 0x20 && b != 0x0A && b != 0x0D && b != 0x09 { return false }
        return true
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: " ")
    }
}
