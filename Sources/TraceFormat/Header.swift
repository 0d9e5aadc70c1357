import Foundation

/// One VM as the trace declares it.
public struct VMDecl: Codable, Equatable, Sendable {
    public var id: UInt32
    public var name: String
    /// Configured guest-physical pages (the VM's max).
    public var pages: UInt64
    /// Page size in bytes when it differs from the trace's.
    public var pageSize: UInt32?
    /// Optional hints for the model.
    public var minPages: UInt64?
    public var shares: UInt64?

    public init(
        id: UInt32, name: String, pages: UInt64, pageSize: UInt32? = nil,
        minPages: UInt64? = nil, shares: UInt64? = nil
    ) {
        self.id = id
        self.name = name
        self.pages = pages
        self.pageSize = pageSize
        self.minPages = minPages
        self.shares = shares
    }
}

/// How the trace was made.
public struct CaptureFacts: Codable, Equatable, Sendable {
    /// The values of `accesses` (docs/FORMAT.md): every access in order; each page at most
    /// once per capture interval; as that, writes only.
    public static let accessModes = ["exact", "interval", "interval-writes"]

    public struct Hash: Codable, Equatable, Sendable {
        public var algorithm: String
        public var bits: Int
        public init(algorithm: String, bits: Int = 64) {
            self.algorithm = algorithm
            self.bits = bits
        }
    }
    /// Where the data came from: `text`, `generator`, `valgrind-lackey`, `qemu-tcg`, …
    public var source: String
    public var tool: String
    public var toolVersion: String
    public var hash: Hash?
    /// Always `us` in this version.
    public var timeUnit: String
    /// `exact` when every access is recorded in order; `interval` when accesses are
    /// per-interval summaries (each page at most once per interval).
    public var accesses: String
    /// Free-form facts (workload, seed, versions), sorted by key when written.
    public var details: [String: String]?
    /// How content records' compressed sizes were measured (`zstd-1`: libzstd at level 1 on
    /// each page; `synthetic`: `gen`'s stand-in), or nil when the trace has none.
    public var compression: String?

    public init(
        source: String, tool: String = "tracetool", toolVersion: String = TraceFormatVersion.toolVersion,
        hash: Hash? = nil, timeUnit: String = "us", accesses: String = "exact",
        details: [String: String]? = nil
    ) {
        self.source = source
        self.tool = tool
        self.toolVersion = toolVersion
        self.hash = hash
        self.timeUnit = timeUnit
        self.accesses = accesses
        self.details = details
    }
}

/// The trace header: everything a reader needs before the first record.
public struct TraceHeader: Codable, Equatable, Sendable {
    public var pageSize: UInt32
    public var vms: [VMDecl]
    public var capture: CaptureFacts

    public init(pageSize: UInt32 = 4096, vms: [VMDecl], capture: CaptureFacts) {
        self.pageSize = pageSize
        self.vms = vms
        self.capture = capture
    }

    /// Checks the limits docs/FORMAT.md sets; `file` is for the error.
    public func validate(file: String) throws(TraceError) {
        func bad(_ s: String) -> TraceError { TraceError(file: file, .invalidHeader(s)) }
        guard pageSize >= 512, pageSize <= 1 << 30, pageSize & (pageSize - 1) == 0 else {
            throw bad("page size \(pageSize) is not a power of two between 512 B and 1 GiB")
        }
        guard vms.count <= TraceLimits.maxVMs else {
            throw bad("\(vms.count) VMs declared; the limit is \(TraceLimits.maxVMs)")
        }
        var seen = Set<UInt32>()
        for vm in vms {
            guard seen.insert(vm.id).inserted else { throw bad("VM \(vm.id) declared twice") }
            guard vm.pages >= 1, vm.pages <= TraceLimits.maxPagesPerVM else {
                throw bad("VM \(vm.id) declares \(vm.pages) pages; a VM has 1 to \(TraceLimits.maxPagesPerVM)")
            }
            if let ps = vm.pageSize, ps < 512 || ps > 1 << 30 || ps & (ps - 1) != 0 {
                throw bad("VM \(vm.id) page size \(ps) is not a power of two between 512 B and 1 GiB")
            }
            if let m = vm.minPages, m > vm.pages {
                throw bad("VM \(vm.id) min \(m) pages exceeds its \(vm.pages) pages")
            }
            guard !vm.name.contains(where: { $0 == "," || $0 == "\n" || $0 == "\r" }) else {
                throw bad("VM \(vm.id) name contains a comma or a line break")
            }
            guard !vm.name.isEmpty else { throw bad("VM \(vm.id) has an empty name") }
        }
        // What the model reads from `accesses` decides what a report says of active memory: a
        // value this version does not know is refused rather than guessed.
        guard CaptureFacts.accessModes.contains(capture.accesses) else {
            throw bad(
                "capture.accesses \"\(capture.accesses)\" is not one of \(CaptureFacts.accessModes.joined(separator: ", "))"
            )
        }
        if let h = capture.hash, h.bits < 1 || h.bits > 64 {
            throw bad("hash width \(h.bits) bits is not between 1 and 64")
        }
        guard capture.timeUnit == "us" else { throw bad("time unit \(capture.timeUnit) is not supported (us)") }
    }

    public func vm(_ id: VMID) -> VMDecl? { vms.first { $0.id == id.rawValue } }
}

/// Totals kept at the end of a trace so `info` need not decode the body.
public struct TraceFooter: Codable, Equatable, Sendable {
    public struct Kinds: Codable, Equatable, Sendable {
        public var read: UInt64 = 0
        public var write: UInt64 = 0
        public var content: UInt64 = 0
        public var zero: UInt64 = 0
        public var free: UInt64 = 0
        public var powerOn: UInt64 = 0
        public var powerOff: UInt64 = 0
        public var virtualAccesses: UInt64 = 0
        public init() {}

        public subscript(kind: RecordKind) -> UInt64 {
            get {
                switch kind {
                case .read: read
                case .write: write
                case .content: content
                case .zero: zero
                case .free: free
                case .powerOn: powerOn
                case .powerOff: powerOff
                }
            }
            set {
                switch kind {
                case .read: read = newValue
                case .write: write = newValue
                case .content: content = newValue
                case .zero: zero = newValue
                case .free: free = newValue
                case .powerOn: powerOn = newValue
                case .powerOff: powerOff = newValue
                }
            }
        }
    }
    public struct PerVM: Codable, Equatable, Sendable {
        public var id: UInt32
        public var records: UInt64
        /// Pages named by the VM's records, runs counted page by page.
        public var pages: UInt64
        public init(id: UInt32, records: UInt64 = 0, pages: UInt64 = 0) {
            self.id = id
            self.records = records
            self.pages = pages
        }
    }
    public var records: UInt64 = 0
    public var kinds = Kinds()
    public var vms: [PerVM] = []
    public var firstTime: UInt64?
    public var lastTime: UInt64?
    public var chunks: UInt64 = 0

    public init(vms: [VMDecl]) { self.vms = vms.map { PerVM(id: $0.id) } }

    /// Adds one record; `vmIndex` is the VM's position in the header.
    @inlinable
    public mutating func count(_ r: TraceRecord, vmIndex: Int) {
        records += 1
        kinds[r.kind] += 1
        if r.hasVirtual { kinds.virtualAccesses += 1 }
        vms[vmIndex].records += 1
        vms[vmIndex].pages += UInt64(r.count)
        if firstTime == nil { firstTime = r.time.rawValue }
        lastTime = r.time.rawValue
    }
}

/// Limits that keep a hostile file from making a reader allocate what it claims.
public enum TraceLimits {
    public static let maxVMs = 65_536
    public static let maxPagesPerVM: UInt64 = 1 << 32
    public static let maxHeaderBytes = 16 << 20
    public static let maxFooterBytes = 64 << 20
    public static let maxChunkPayload = 16 << 20
    public static let maxChunkRecords = 1 << 24
}

public enum TraceFormatVersion {
    /// The binary format version this code writes and the highest it reads.
    /// Version 2 added content records that carry the page's compressed size (op `0x25`, the
    /// text format's sixth field of `C`); version 1 files read as "compressed size unknown".
    public static let current: UInt16 = 2
    public static let toolVersion = "0.1.0"
}

extension JSONEncoder {
    /// The one JSON style tracetool writes: sorted keys, so output never depends on hashing.
    public static func canonical(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

/// VM id → position in the header, by direct indexing when ids are small (the usual case) and
/// by hashing otherwise. Lookups never depend on hash iteration order.
public struct VMIndexMap: Sendable {
    @usableFromInline var dense: [Int32] = []
    @usableFromInline var sparse: [UInt32: Int] = [:]
    @usableFromInline let useDense: Bool

    public init(_ vms: [VMDecl]) {
        let maxID = vms.map(\.id).max() ?? 0
        useDense = maxID < 1 << 20
        if useDense {
            dense = Array(repeating: -1, count: Int(maxID) + 1)
            for (i, vm) in vms.enumerated() { dense[Int(vm.id)] = Int32(i) }
        } else {
            for (i, vm) in vms.enumerated() { sparse[vm.id] = i }
        }
    }

    @inlinable
    public subscript(id: UInt32) -> Int? {
        if useDense {
            guard Int(id) < dense.count else { return nil }
            let i = dense[Int(id)]
            return i < 0 ? nil : Int(i)
        }
        return sparse[id]
    }
}
