/// What stands in front of host swap (the `compression` knob; docs/MODEL.md "Compression
/// cache"): a policy family whose implementations give each VM a tier that may keep a paged-out
/// page in memory, or none.
///
/// Contract. The engine asks the registered implementation for one tier per VM when it starts
/// (`make`; nil: victims go straight to swap and no tier hook runs); each tier follows the
/// SwapTier protocol's contract (Reclamation/SwapTier.swift). A new implementation is one file
/// with its registration and one line in `registry`.
public enum SwapTiers: RegisteredFamily {
    public static let knob = "compression"

    /// The family's knob, the cache's size and threshold, and their costs.
    static let knobs: [PolicyKnob] = [
        .family(
            SwapTiers.self, default: "off", after: "swapVictim",
            help: "compress pages on their way to swap; those that shrink enough stay in a per-VM cache"
        ).listed(before: "swapVictim"),
        .number(
            "compressionThreshold", unit: "of a page", default: 0.5, after: "compression",
            help: "compression=on: the largest compressed size the cache takes"
        ) { v, _ in
            v.isFinite && v > 0 && v <= 1 ? nil : "must be in (0, 1] of a page"
        },
        .number(
            "compressionCache", unit: "of max", default: 0.1, range: 0...1, after: "compressionThreshold",
            help: "compression=on: the cache's size per VM"),
        .number(
            "costCompress", unit: "µs", default: 5, range: 0...1e9, after: "costSwapIn",
            help: "cost model: compressing one page into the compression cache"),
        .number(
            "costDecompress", unit: "µs", default: 20, range: 0...1e9, after: "costCompress",
            help: "cost model: decompressing one page the VM touched (tens of µs)"),
    ]

    struct Registration: Sendable, ImplementationRegistration {
        let implementation: Implementation
        let make: @Sendable (_ vm: VMConfig, _ policy: Policy, _ pageBytes: UInt64) -> (any SwapTier)?
    }

    static let registry: [Registration] = [
        Registration(
            implementation: Implementation(name: "off", summary: "victims go straight to swap (the paper)"),
            make: { _, _, _ in nil }),
        Registration(
            implementation: Implementation(
                name: "on",
                summary: "a per-VM compression cache: victims that compress to compressionThreshold stay in memory"),
            make: { vm, p, bytes in
                CompressionCache(
                    pageBytes: bytes, maxPages: vm.maxPages, fraction: p.compressionCache,
                    threshold: p.compressionThreshold)
            }),
        SlotCompressionCache.registration,
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
