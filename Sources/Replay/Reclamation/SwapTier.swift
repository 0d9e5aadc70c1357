import TraceFormat

/// A per-VM tier in front of host swap (the SwapTiers family; docs/ARCHITECTURE.md
/// "Mechanisms"): it may keep a paged-out page in memory, in its own machine pages, which are
/// charged to the VM. A page it keeps is `tiered` in the pmap.
///
/// Contract. With a tier, in this order over a page's life:
/// 1. `contentReported` for every content record of the VM (the record, which may carry the
///    page's size in the tier), `zeroFilled` when the page is known zero (a zero record, a
///    demand-zero fill), `forget` when the page is handed back to the host;
/// 2. `pageOut` for every victim host paging chooses that the sharing table did not take: the
///    tier keeps it (releasing its machine page, setting its entry, counting `tierOut`) and
///    says true, or declines;
/// 3. `remove` when a tiered page leaves (the guest touches it, gives it to its balloon, or it
///    is handed back): the tier forgets it and sets its entry to untouched; the caller maps it
///    again;
/// 4. `drop` at power-off, after every page was released: the tier empties itself;
/// 5. `check` in the engine's invariants, against the pmap, and `report` at a snapshot.
/// The tier allocates and releases its machine pages through the engine, keeping
/// `ReplayEngine.tierPages` and `tierPeak` up to date, and never needs more memory than the
/// page it keeps released.
protocol SwapTier: AnyObject {
    /// The machine pages the tier holds now.
    var machinePages: UInt64 { get }
    func contentReported(_ vm: VMState, _ ppn: Int, _ record: TraceRecord)
    func zeroFilled(_ ppn: Int)
    func forget(_ ppn: Int)
    func pageOut(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) throws(ReplayError) -> Bool
    func remove(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32)
    func drop(_ engine: ReplayEngine, _ vm: VMState)
    func check(_ engine: ReplayEngine, _ vm: VMState) throws(ReplayError)
    func report() -> any Sendable
}
