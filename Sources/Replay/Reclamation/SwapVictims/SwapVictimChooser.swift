/// Host paging's victim choice: which private page of a VM the host swaps out when
/// ballooning cannot reclaim enough (docs/PAPER.md §3.3; docs/MODEL.md "Host paging").
///
/// Contract. The engine makes one chooser per VM from the `swapVictim` knob when it starts.
/// A chooser may read the VM's pmap, flags and guest-LRU order; it never changes them (its own
/// bookkeeping is its own). Hooks, in the order they happen to a page:
/// 1. `pageBecameResident(_:)` each time a PPN of the VM gets a private machine page (a
///    demand-zero fill, a content report backing it, a copy-on-write break, a swap-in, a
///    refault from the balloon) — called from `ReplayEngine.makeResident` only;
/// 2. `choose(_:)` when host paging needs a victim of this VM: a PPN whose state is
///    `privateMPN`, or nil when the VM has none (the engine has checked `privatePages > 0`,
///    so nil is a bug);
/// 3. `reset()` when the VM powers off and every page is dropped.
/// `tracking` is false when the host is not overcommitted (no victim is ever needed): a
/// chooser should then keep no per-page state.
protocol SwapVictimChooser: AnyObject {
    func pageBecameResident(_ ppn: UInt32)
    func choose(_ vm: VMState) -> UInt32?
    func reset()
}

extension SwapVictimChooser {
    func pageBecameResident(_ ppn: UInt32) {}
    func reset() {}
}

/// One registered chooser: its name, summary, whether it reads the guest-LRU order (the engine
/// then keeps that order exact), and how to make one for a VM.
struct SwapVictimRegistration: Sendable, ImplementationRegistration {
    let implementation: Implementation
    let usesGuestLRU: Bool
    let make: @Sendable (_ vm: VMConfig, _ policy: Policy, _ tracking: Bool) -> any SwapVictimChooser
}

/// The registry of swap-victim choosers (the `swapVictim` knob). A new chooser is one file
/// plus one line here.
public enum SwapVictims: RegisteredFamily {
    public static let knob = "swapVictim"
    static let registry: [SwapVictimRegistration] = [
        RandomVictim.registration,
        LRUVictim.registration,
        FIFOVictim.registration,
        ClockVictim.registration,
    ]
}

public typealias SwapVictimName = ImplementationName<SwapVictims>

extension VMState {
    /// Whether PPN `p` is backed by a private machine page (the only kind host paging takes).
    @inline(__always) func isPrivate(_ p: UInt32) -> Bool { PageState.of(entry[Int(p)]) == .privateMPN }

    /// The lowest private PPN: the fallback of choosers whose order has run dry.
    func firstPrivate() -> UInt32? { (0..<UInt32(pageCount)).first(where: isPrivate) }
}
