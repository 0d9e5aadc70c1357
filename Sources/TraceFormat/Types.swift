/// Strong unit types shared by every module: page numbers, ids and simulated time.
///
/// They are thin wrappers over fixed-width integers so that a guest-physical page can never be
/// passed where a VM id or a machine page is expected; they cost nothing at run time.

/// A guest-"physical" page number: the zero-based page index a VM sees as its RAM.
public struct PPN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt32) { self.rawValue = v }
    @inlinable public static func < (a: PPN, b: PPN) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A guest-virtual page number inside one address space.
public struct VPN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt64) { self.rawValue = v }
    @inlinable public static func < (a: VPN, b: VPN) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A guest address-space identifier (a process's page-table root, as the trace names it).
public struct ASID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt32) { self.rawValue = v }
    @inlinable public static func < (a: ASID, b: ASID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A virtual machine's id as the trace declares it.
public struct VMID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt32) { self.rawValue = v }
    @inlinable public static func < (a: VMID, b: VMID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// Simulated time in microseconds from the trace's start.
public struct Micros: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt64) { self.rawValue = v }
    @inlinable public static func < (a: Micros, b: Micros) -> Bool { a.rawValue < b.rawValue }
    public static let zero = Micros(0)
    public static func seconds(_ s: Double) -> Micros { Micros(UInt64((s * 1_000_000).rounded())) }
    public var seconds: Double { Double(rawValue) / 1_000_000 }
    public var description: String { String(rawValue) }
}

/// A 64-bit digest of one page's contents.
public struct ContentHash: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt64) { self.rawValue = v }
    /// The hash the model gives a page of all zero bytes (`Z` records). Writers never emit a
    /// `C` record for an all-zero page; the value is reserved (see docs/FORMAT.md).
    public static let zero = ContentHash(0)
    /// Lowercase, zero-padded, 16 hex digits.
    public var description: String {
        let s = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// What a trace record says happened.
public enum RecordKind: UInt8, Sendable, CaseIterable, Codable {
    /// The guest read `count` consecutive pages from `ppn`.
    case read = 0
    /// The guest wrote `count` consecutive pages from `ppn`.
    case write = 1
    /// Page `ppn` now holds content with digest `hash`.
    case content = 2
    /// `count` pages from `ppn` are now all zero.
    case zero = 3
    /// The guest freed `count` pages from `ppn` (a hint; the pages keep their content).
    case free = 4
    /// The VM powers on.
    case powerOn = 5
    /// The VM powers off.
    case powerOff = 6

    /// The name used in the text format.
    public var textName: String {
        switch self {
        case .read: "R"
        case .write: "W"
        case .content: "C"
        case .zero: "Z"
        case .free: "FREE"
        case .powerOn: "ON"
        case .powerOff: "OFF"
        }
    }

    /// The name used in reports and footers.
    public var reportName: String {
        switch self {
        case .read: "read"
        case .write: "write"
        case .content: "content"
        case .zero: "zero"
        case .free: "free"
        case .powerOn: "powerOn"
        case .powerOff: "powerOff"
        }
    }

    public var isAccess: Bool { self == .read || self == .write }
}

/// One decoded trace event. A plain value: readers fill reused arrays of these.
public struct TraceRecord: Equatable, Sendable {
    public var time: Micros
    public var vm: VMID
    public var kind: RecordKind
    /// True for accesses that carry an address space and a virtual page (`RV`/`WV`).
    public var hasVirtual: Bool
    public var ppn: PPN
    /// Pages in the run, at least 1 (always 1 for content, virtual accesses and power events).
    public var count: UInt32
    /// The content digest of a `content` record; zero otherwise.
    public var hash: ContentHash
    public var asid: ASID
    /// A content record's page compressed, in bytes (1 … the page size; docs/FORMAT.md), or 0
    /// when the trace does not say (format version 1, or a capture that did not measure it).
    public var compressedSize: UInt32
    public var vpn: VPN

    public init(
        time: Micros, vm: VMID, kind: RecordKind, ppn: PPN = PPN(0), count: UInt32 = 1,
        hash: ContentHash = ContentHash(0), virtual: (ASID, VPN)? = nil, compressedSize: UInt32 = 0
    ) {
        self.time = time
        self.vm = vm
        self.kind = kind
        self.ppn = ppn
        self.count = count
        self.hash = hash
        self.compressedSize = compressedSize
        if let (a, v) = virtual {
            hasVirtual = true
            asid = a
            vpn = v
        } else {
            hasVirtual = false
            asid = ASID(0)
            vpn = VPN(0)
        }
    }

    public static let placeholder = TraceRecord(time: .zero, vm: VMID(0), kind: .powerOn)
}
