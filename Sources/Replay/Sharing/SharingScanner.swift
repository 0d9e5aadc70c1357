import TraceFormat

/// A sharing scanner: which pages the periodic scan offers to the sharing table, in what
/// order, and which contents may be shared at all (docs/PAPER.md §3.2; docs/MODEL.md "Sharing").
///
/// Contract. The engine makes one scanner per replay from the `sharing` knob; a scanner keeps
/// no per-page state of its own (a VM's scan position, sweep number and permutation live in
/// `VMState`). Hooks, in the order the engine calls them:
/// 1. `beginSweep(_:sweep:seed:)` for every VM at power-up of the engine (sweep 0) and each
///    time a VM's sweep has visited every page (sweep 1, 2, …);
/// 2. per scan visit (`shareScanVM` pages/s per VM, `shareScanTotal` in all, in a rotating VM
///    order): `page(_:at:)` gives the PPN at position k of the sweep (a bijection of
///    0..<pages per sweep), then `admit(_:ppn:)` says whether to offer it (a skip is counted as
///    a volatile skip; the scanner may set `PageFlag.scanStable`, and says so);
/// 3. `mayShare(hash:)` whenever a page is offered — by the scan or by share-before-swap —
///    before the table is searched.
/// `offersPages == false` turns the scan and share-before-swap off entirely.
protocol SharingScanner: Sendable {
    var offersPages: Bool { get }
    func beginSweep(_ vm: VMState, sweep: UInt64, seed: UInt64)
    func page(_ vm: VMState, at position: UInt64) -> UInt32
    func admit(_ vm: VMState, ppn: UInt32) -> ScanAdmission
    func mayShare(hash: UInt64) -> Bool
}

/// What a scanner does with the page it visits.
enum ScanAdmission: Equatable {
    /// Offer the page to the sharing table.
    case offer
    /// Pass it over this sweep; `marked`: the scanner changed the page's flags.
    case skip(marked: Bool)
}

extension SharingScanner {
    func admit(_ vm: VMState, ppn: UInt32) -> ScanAdmission { .offer }
    func mayShare(hash: UInt64) -> Bool { true }
    var offersPages: Bool { true }
}

/// One registered scanner: its name, summary and how to make it.
struct SharingScannerRegistration: Sendable, ImplementationRegistration {
    let implementation: Implementation
    let make: @Sendable (Policy) -> any SharingScanner
}

/// The registry of sharing scanners (the `sharing` knob). A new scanner is one file plus one
/// line here.
public enum SharingScanners: RegisteredFamily {
    public static let knob = "sharing"
    static let registry: [SharingScannerRegistration] = [
        RandomScanner.registration,
        NoScanner.registration,
        ZeroOnlyScanner.registration,
        OrderedScanner.registration,
    ]
    static func make(_ name: SharingName, policy: Policy) -> any SharingScanner {
        registration(name).make(policy)
    }
}

public typealias SharingName = ImplementationName<SharingScanners>
