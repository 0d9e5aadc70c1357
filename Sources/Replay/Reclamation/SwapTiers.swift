/// What stands in front of host swap (the `compression` knob; docs/MODEL.md "Compression
/// cache"): a policy family whose implementations give each VM a tier that may keep a paged-out
/// page in memory, or none.
///
/// Contract. The engine asks the registered implementation for one tier per VM when it starts
/// (`make`; nil: victims go straight to swap and no hook below runs). With a tier:
/// 1. the engine records each content report's compressed size (and 18 bytes for zero pages)
///    in the VM's size array;
/// 2. host paging offers every victim the sharing table did not take (`compressOut`): the tier
///    keeps it (the page becomes `compressed`, its machine page released, the tier's own
///    machine pages charged to the VM) or declines (the page goes to swap);
/// 3. the fault path brings a compressed page back (`decompress`); the balloon and free page
///    reporting take pages out (`leaveCache`); power-off empties the tier (`dropCache`).
/// The engine checks the tier against the pmap in its invariants.
public enum SwapTiers: RegisteredFamily {
    public static let knob = "compression"

    /// The family's knob, the cache's size and threshold, and their costs.
    static let knobs: [PolicyKnob] = [
        .family(SwapTiers.self, default: "off", after: "largePageBreakFree",
                help: "compress pages on their way to swap; those that shrink enough stay in a per-VM cache"),
        .number("compressionThreshold", unit: "of a page", default: 0.5, after: "compression",
                help: "compression=on: the largest compressed size the cache takes") { v, _ in
            v.isFinite && v > 0 && v <= 1 ? nil : "must be in (0, 1] of a page"
        },
        .number("compressionCache", unit: "of max", default: 0.1, range: 0...1, after: "compressionThreshold",
                help: "compression=on: the cache's size per VM"),
        .number("costCompress", unit: "µs", default: 5, range: 0...1e9, after: "costSwapIn",
                help: "cost model: compressing one page into the compression cache"),
        .number("costDecompress", unit: "µs", default: 20, range: 0...1e9, after: "costCompress",
                help: "cost model: decompressing one page the VM touched (tens of µs)"),
    ]

    struct Registration: Sendable, ImplementationRegistration {
        let implementation: Implementation
        let make: @Sendable (_ vm: VMConfig, _ policy: Policy, _ pageBytes: UInt64) -> CompressionCache?
    }

    static let registry: [Registration] = [
        Registration(implementation: Implementation(name: "off", summary: "victims go straight to swap (the paper)"),
                     make: { _, _, _ in nil }),
        Registration(implementation: Implementation(name: "on", summary: "a per-VM compression cache: victims that compress to compressionThreshold stay in memory"),
                     make: { vm, p, bytes in
                         CompressionCache(pageBytes: bytes, maxPages: vm.maxPages, fraction: p.compressionCache, threshold: p.compressionThreshold)
                     }),
    ]
}

public typealias SwapTierName = ImplementationName<SwapTiers>

extension ImplementationName where Family == SwapTiers {
    public static let off: Self = "off"
    public static let on: Self = "on"
}

extension Policy {
    /// `compression` (SwapTiers): a page compressing to at most `compressionThreshold` of a page
    /// stays in a per-VM cache of at most `compressionCache` of the VM's max instead of going to
    /// swap; `costCompress` and `costDecompress`, µs.
    public var compression: SwapTierName {
        get { SwapTierName(rawValue: name("compression")) }
        set { setExtra("compression", .name(newValue.rawValue)) }
    }
    public var compressionThreshold: Double {
        get { number("compressionThreshold") }
        set { setExtra("compressionThreshold", .number(newValue)) }
    }
    public var compressionCache: Double {
        get { number("compressionCache") }
        set { setExtra("compressionCache", .number(newValue)) }
    }
    public var costCompress: Double {
        get { number("costCompress") }
        set { setExtra("costCompress", .number(newValue)) }
    }
    public var costDecompress: Double {
        get { number("costDecompress") }
        set { setExtra("costDecompress", .number(newValue)) }
    }
}
