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
