import Foundation
import TraceFormat

/// The file `tracetool fingerprint -o FP` writes and `tracetool place` reads: JSON, one object
/// (docs/FLEET.md, "The fingerprint file"):
///
///     {"format": "tracetool-fingerprints", "version": 1, "k": 4096, "tool": "0.1.0",
///      "vms": [{"name", "trace", "vm", "atMicros", "pageSize", "pages", "hash",
///               "contentPages", "zeroPages", "unknownPages", "distinct",
///               "sketch": base64 of the values, 8 bytes each, little-endian}]}
///
/// Reading checks everything a placement relies on, so a damaged or hand-edited file gives one
/// line naming the VM and the field rather than a wrong placement.
public struct FingerprintFile: Equatable, Sendable {
    public static let format = "tracetool-fingerprints"
    public static let version = 1
    public var k: Int
    public var vms: [VMFingerprint]
    /// Each VM's content hash algorithm (the trace's), parallel to `vms`.
    public var hashes: [String]

    public init(k: Int, vms: [VMFingerprint], hashes: [String]) {
        self.k = k
        self.vms = vms
        self.hashes = hashes
    }

    private struct Stored: Codable {
        var format: String
        var version: Int
        var k: Int
        var tool: String?
        var vms: [StoredVM]
    }

    private struct StoredVM: Codable {
        var name: String
        var trace: String
        var vm: UInt32
        var atMicros: UInt64
        var pageSize: UInt32
        var pages: UInt64
        var hash: String
        var contentPages: UInt64
        var zeroPages: UInt64
        var unknownPages: UInt64
        var distinct: UInt64
        var sketch: String
    }

    public func encoded() -> [UInt8] {
        let stored = Stored(
            format: Self.format, version: Self.version, k: k, tool: BuildInfo.version,
            vms: zip(vms, hashes).map { f, h in
                var bytes = [UInt8]()
                bytes.reserveCapacity(f.sketch.count * 8)
                for v in f.sketch { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
                return StoredVM(
                    name: f.name, trace: f.trace, vm: f.vm, atMicros: f.atMicros, pageSize: f.pageSize, pages: f.pages,
                    hash: h, contentPages: f.contentPages, zeroPages: f.zeroPages, unknownPages: f.unknownPages,
                    distinct: f.distinct, sketch: Data(bytes).base64EncodedString())
            })
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return Array(try! e.encode(stored)) + [0x0A]
    }

    public func write(to path: String) throws(TraceError) {
        try AtomicOutput.write(encoded(), to: path)
    }

    /// Reads and checks a fingerprint file.
    public static func read(_ path: String) throws(TraceError) -> FingerprintFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TraceError(file: path, .io("cannot read: \((error as NSError).localizedDescription)"))
        }
        return try decode(Array(data), file: path)
    }

    public static func decode(_ bytes: [UInt8], file: String) throws(TraceError) -> FingerprintFile {
        func bad(_ s: String) -> TraceError { TraceError(file: file, .malformed(s)) }
        guard !bytes.isEmpty else { throw TraceError(file: file, .emptyFile) }
        let s: Stored
        do { s = try JSONDecoder().decode(Stored.self, from: Data(bytes)) } catch {
            // Whether it is JSON at all, or JSON of another shape.
            if (try? JSONSerialization.jsonObject(with: Data(bytes))) == nil {
                throw bad("not a fingerprint file: not JSON (write one with `tracetool fingerprint`)")
            }
            throw bad("not a fingerprint file: \(Self.describe(error))")
        }
        guard s.format == format else { throw bad("format \"\(s.format)\" is not \(format)") }
        guard s.version >= 1 else { throw bad("version \(s.version) is not 1") }
        guard s.version <= version else {
            throw bad("version \(s.version) is newer than this tracetool reads (up to \(version))")
        }
        guard ContentSketch.kRange.contains(s.k) else {
            throw bad(
                "k \(s.k) is not between \(ContentSketch.kRange.lowerBound) and \(ContentSketch.kRange.upperBound)")
        }
        guard !s.vms.isEmpty else { throw bad("no VMs") }
        var out = FingerprintFile(k: s.k, vms: [], hashes: [])
        for (i, v) in s.vms.enumerated() {
            func vmBad(_ what: String) -> TraceError { bad("VM \(i) (\(v.name)): \(what)") }
            guard !v.name.isEmpty, !v.name.contains(where: { $0 == "," || $0.isNewline }) else {
                throw vmBad("a name is non-empty, without commas or line breaks")
            }
            guard v.pageSize >= 512, v.pageSize <= 1 << 30, v.pageSize & (v.pageSize - 1) == 0 else {
                throw vmBad("page size \(v.pageSize) is not a power of two between 512 B and 1 GiB")
            }
            guard v.pages >= 1, v.pages <= TraceLimits.maxPagesPerVM else {
                throw vmBad("\(v.pages) pages; a VM has 1 to \(TraceLimits.maxPagesPerVM)")
            }
            let (c1, o1) = v.contentPages.addingReportingOverflow(v.zeroPages)
            let (held, o2) = c1.addingReportingOverflow(v.unknownPages)
            guard !o1, !o2, held <= v.pages else {
                throw vmBad("content, zero and unknown pages add up to more than its \(v.pages) pages")
            }
            guard v.distinct <= v.contentPages else {
                throw vmBad("\(v.distinct) distinct contents in \(v.contentPages) content pages")
            }
            guard let raw = Data(base64Encoded: v.sketch), raw.count % 8 == 0 else {
                throw vmBad("sketch is not base64 of 8-byte values")
            }
            let n = raw.count / 8
            guard UInt64(n) == min(v.distinct, UInt64(s.k)) else {
                throw vmBad(
                    "sketch holds \(n) values; \(v.distinct) distinct contents with k \(s.k) need \(min(v.distinct, UInt64(s.k)))"
                )
            }
            var sketch = [UInt64](repeating: 0, count: n)
            raw.withUnsafeBytes { r in
                for j in 0..<n {
                    sketch[j] = UInt64(littleEndian: r.loadUnaligned(fromByteOffset: j * 8, as: UInt64.self))
                }
            }
            for j in sketch.indices.dropFirst() where sketch[j - 1] >= sketch[j] {
                throw vmBad("sketch values are not strictly ascending at value \(j)")
            }
            out.vms.append(
                VMFingerprint(
                    name: v.name, trace: v.trace, vm: v.vm, atMicros: v.atMicros, pageSize: v.pageSize, pages: v.pages,
                    contentPages: v.contentPages, zeroPages: v.zeroPages, unknownPages: v.unknownPages,
                    distinct: v.distinct, sketch: sketch))
            out.hashes.append(v.hash)
        }
        return out
    }

    static func describe(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let c)?:
            return "missing \(path(c.codingPath + [key]))"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
            return "\(path(c.codingPath)) has the wrong type"
        case .dataCorrupted(let c)?:
            return "\(path(c.codingPath)): \(c.debugDescription)"
        default:
            return "unreadable"
        }
    }

    static func path(_ keys: [CodingKey]) -> String {
        let s = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return s.isEmpty ? "the top level" : String(s.drop { $0 == "." })
    }
}
