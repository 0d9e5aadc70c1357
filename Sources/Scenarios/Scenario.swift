import TraceFormat

/// Settings every generator scenario may read; each scenario documents which it uses.
public struct GenOptions: Sendable {
    public var seed: UInt64 = 1
    public var vms: Int = 4
    public var pagesPerVM: UInt64 = 16_384
    public var records: UInt64 = 1_000_000
    /// Simulated length of the trace in seconds.
    public var duration: Double = 60
    public var writeFraction: Double = 0.3
    public var contentFraction: Double = 0.05
    public var zeroFraction: Double = 0.01
    public var runFraction: Double = 0.05
    /// Share of content records drawn from a pool common to all VMs (shareable contents).
    public var commonContent: Double = 0.3
    /// Emit `RV`/`WV` with address spaces instead of plain accesses.
    public var virtualAddresses = false
    public init() {}
}

/// A deterministic synthetic trace: same options and seed ⇒ byte-identical file.
public protocol TraceScenario {
    /// The name users type after `tracetool gen`.
    static var name: String { get }
    /// One line for `tracetool gen --help`.
    static var summary: String { get }
    static func header(_ o: GenOptions) -> TraceHeader
    static func generate(_ o: GenOptions, into sink: any TraceSink) throws(TraceError)
    /// The `gen` options it reads (long names without dashes); `gen` refuses the others.
    static var options: Set<String> { get }
    /// About how many records it writes (to refuse, before writing, what the disk cannot hold).
    static func plannedRecords(_ o: GenOptions) -> Double
}

/// Every scenario, by name. A new scenario is one file plus one line here.
public enum ScenarioRegistry {
    public static let all: [any TraceScenario.Type] = [
        MixScenario.self,
        SnapshotScenario.self,
        Fig6Scenario.self,
        Fig7Scenario.self,
        IdenticalScenario.self,
        Fig8Scenario.self,
        TaxScenario.self,
    ]

    public static func named(_ name: String) -> (any TraceScenario.Type)? {
        all.first { $0.name == name }
    }

    /// Writes the scenario to `path` (binary or text by extension) and returns the totals.
    @discardableResult
    public static func write(
        _ scenario: any TraceScenario.Type, options: GenOptions, to path: String,
        level: Int32 = 3
    ) throws(TraceError) -> TraceFooter {
        var header = scenario.header(options)
        header.capture.compression = SyntheticCompression.name
        let sink = SyntheticCompression(try TraceSinks.open(path: path, header: header, level: level))
        try scenario.generate(options, into: sink)
        return try sink.finish()
    }
}

/// Gives every content record `gen` writes a compressed size (docs/FORMAT.md,
/// `capture.compression`), a stand-in for a real compressor: a pure function of the content hash (the same
/// content always gets the same size), spread evenly over 64 bytes … one page, so that about
/// half the pages of 4 KiB compress to at most half a page.
public final class SyntheticCompression: TraceSink {
    public static let name = "synthetic"
    let inner: any TraceSink
    public var header: TraceHeader { inner.header }

    /// Page sizes of VMs that declare their own (most traces: none), and the header's.
    let ownPageSize: [UInt32: UInt32]
    let pageSize: UInt32

    public init(_ inner: any TraceSink) {
        self.inner = inner
        var own: [UInt32: UInt32] = [:]
        for vm in inner.header.vms { if let ps = vm.pageSize { own[vm.id] = ps } }
        ownPageSize = own
        pageSize = inner.header.pageSize
    }

    /// The synthetic compressed size of content `hash` on pages of `pageSize` bytes.
    public static func size(hash: UInt64, pageSize: UInt64) -> UInt32 {
        let floor: UInt64 = min(64, pageSize)
        let u = (hash &* 0x9E37_79B9_7F4A_7C15) >> 32
        return UInt32(floor + u % (pageSize - floor + 1))
    }

    public func append(_ record: TraceRecord) throws(TraceError) {
        var r = record
        if r.kind == .content && r.compressedSize == 0 {
            let vmPageSize = ownPageSize.isEmpty ? pageSize : ownPageSize[r.vm.rawValue] ?? pageSize
            r.compressedSize = SyntheticCompression.size(hash: r.hash.rawValue, pageSize: UInt64(vmPageSize))
        }
        try inner.append(r)
    }

    @discardableResult
    public func finish() throws(TraceError) -> TraceFooter { try inner.finish() }

    public func abandon() { inner.abandon() }
}

extension GenOptions {
    func standardHeader(source scenario: String, accesses: String = "exact") -> TraceHeader {
        TraceHeader(
            pageSize: 4096,
            vms: (0..<vms).map { VMDecl(id: UInt32($0), name: "vm\($0)", pages: pagesPerVM) },
            capture: CaptureFacts(
                source: "generator", hash: .init(algorithm: "synthetic-64", bits: 64),
                accesses: accesses,
                details: ["scenario": scenario, "seed": String(seed), "records": String(records)]))
    }
}
