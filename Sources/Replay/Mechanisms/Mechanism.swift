import TraceFormat

/// A mechanism beside the paper's core (docs/ARCHITECTURE.md "Mechanisms"): made by its
/// registration when a replay starts (none when the policy leaves it off), it keeps its own
/// state, per VM and host-wide, and acts only through the hooks below. The engine calls every
/// registered mechanism's hook at the same point, in registration order (Registrations), so
/// the core names no mechanism. Every hook has a default that does nothing.
///
/// Hook order over a replay:
/// 1. `attach` once, when every VM exists and none is powered on;
/// 2. at each one-second tick: `secondBegins` before sampling, balancing and reclamation;
///    `beforeReclaim` just before reclamation;
/// 3. `periodEnded` for each powered-on VM at the end of each of its measured sample periods
///    (with the truth and the sampled estimate, pages);
/// 4. `guestFreed` for each FREE record; `stateChanged` after the free-memory state changed;
///    `freeBelowFloor` when an allocation left free memory below `ReplayEngine.lowFreeFloor`;
/// 5. `poweredOff` when a VM powers off, before its pages are released;
/// 6. `isSteady` whenever fast-forward considers skipping a span: false when the mechanism
///    would act at some tick of it (the span is then simulated tick by tick);
/// 7. `checkInvariants` after every step in tests; `report` and `hostReport` at a snapshot.
/// Page-level hooks are separate protocols (PageWatcher, SharingGate, AccessObserver,
/// SwapTier), which the engine calls on its hot paths only when one is registered.
protocol EngineMechanism: AnyObject {
    func attach(_ engine: ReplayEngine)
    func secondBegins(_ engine: ReplayEngine)
    func beforeReclaim(_ engine: ReplayEngine)
    func periodEnded(_ engine: ReplayEngine, _ vm: VMState, truth: Double, estimate: Double)
    /// The mechanism's own estimate of the VM's active pages, for the engine's period rows
    /// (`PeriodRow.monitor`); nil if it keeps none.
    func periodEstimate(_ vm: VMState) -> UInt64?
    func guestFreed(_ engine: ReplayEngine, _ vm: VMState, first: Int, count: Int)
    func stateChanged(_ engine: ReplayEngine)
    func freeBelowFloor(_ engine: ReplayEngine)
    func poweredOff(_ engine: ReplayEngine, _ vm: VMState)
    func isSteady(_ engine: ReplayEngine) -> Bool
    func checkInvariants(_ engine: ReplayEngine) throws(ReplayError)
    /// What the mechanism did to one VM, and host-wide, as a plain value the Analyzer reads
    /// by type (`MechanismReports`); nil for nothing to report.
    func report(_ engine: ReplayEngine, _ vm: VMState) -> (any Sendable)?
    func hostReport(_ engine: ReplayEngine) -> (any Sendable)?
}

extension EngineMechanism {
    func attach(_ engine: ReplayEngine) {}
    func secondBegins(_ engine: ReplayEngine) {}
    func beforeReclaim(_ engine: ReplayEngine) {}
    func periodEnded(_ engine: ReplayEngine, _ vm: VMState, truth: Double, estimate: Double) {}
    func periodEstimate(_ vm: VMState) -> UInt64? { nil }
    func guestFreed(_ engine: ReplayEngine, _ vm: VMState, first: Int, count: Int) {}
    func stateChanged(_ engine: ReplayEngine) {}
    func freeBelowFloor(_ engine: ReplayEngine) {}
    func poweredOff(_ engine: ReplayEngine, _ vm: VMState) {}
    func isSteady(_ engine: ReplayEngine) -> Bool { true }
    func checkInvariants(_ engine: ReplayEngine) throws(ReplayError) {}
    func report(_ engine: ReplayEngine, _ vm: VMState) -> (any Sendable)? { nil }
    func hostReport(_ engine: ReplayEngine) -> (any Sendable)? { nil }
}

/// Told when a page gains or loses private backing, and when the guest gives it to its balloon.
/// `becamePrivate` runs inside `makeResident`, the one path by which a PPN gets a private
/// machine page; `leftPrivate` wherever a private page is released, shared or promoted.
protocol PageWatcher: AnyObject {
    func becamePrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32)
    func leftPrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32)
    func ballooned(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32)
}

extension PageWatcher {
    func becamePrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {}
    func leftPrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {}
    func ballooned(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {}
}

/// May keep a private page out of the sharing table (at most one per replay).
protocol SharingGate: AnyObject {
    /// The scanner (or share-before-swap) offers PPN `ppn` with content `hash`: true keeps it
    /// private this time (the gate counts what it prevented).
    func blocksOffer(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32, hash: UInt64) -> Bool
    /// Whether a hint pointing at `ppn` may not be promoted now.
    func blocksHint(_ vm: VMState, _ ppn: UInt32) -> Bool
}

/// Sees every guest touch of a page (accesses, not content reports).
protocol AccessObserver: AnyObject {
    func accessed(_ ppn: Int)
}

/// What each mechanism reported at a snapshot, by the report's type.
public struct MechanismReports: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]  // looked up by type, never iterated
    public init() {}

    mutating func add(_ value: any Sendable) {
        values[ObjectIdentifier(type(of: value))] = value
    }

    /// The report of type `T`, if its mechanism ran.
    public subscript<T: Sendable>(_: T.Type) -> T? { values[ObjectIdentifier(T.self)] as? T }
}
