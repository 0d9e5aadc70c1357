import TraceFormat

/// One row of `--timeline`.
public struct TimelineRow: Equatable, Sendable {
    public var time: Micros
    public var vm: UInt32
    public var allocated: UInt64
    public var target: UInt64
    public var balloon: UInt64
    /// Balloon pages whose inflation released machine memory (the rest held none).
    public var balloonFreed: UInt64
    public var swapped: UInt64
    public var sharedSaved: Double
    public var activeEstimate: UInt64
    public var activeTrue: UInt64
    public var free: UInt64
    public var state: FreeState
    public var guestRefaults: UInt64
    public var swapIns: UInt64

    /// What one row costs to keep and to render as a CSV line or an HTML chart point (measured
    /// ~205 bytes a row with 5 VMs at a 1 s interval; priced at its storage + 256).
    public static let plannedBytes = Double(MemoryLayout<TimelineRow>.stride + 256)
}

/// One VM's idle estimate at the end of a sample period (`ReplayEngine.recordPeriods`): the
/// slow and fast EWMAs of the sampled fraction, the estimate the allocator used (the larger of
/// the two, times max), the pages really touched in the period, and the estimate of an access
/// monitor when the estimator keeps one. Pages.
public struct PeriodRow: Equatable, Sendable {
    public var time: Micros
    public var vm: UInt32
    public var slow: Double
    public var fast: Double
    public var estimate: Double
    public var truth: UInt64
    /// A mechanism's own estimate of the active pages (an access monitor's), if one keeps it.
    public var monitor: UInt64?
}

extension ReplayEngine {
    // MARK: the timeline

    func recordTimeline() {
        for vm in vms {
            var saved = 0.0
            if vm.sharedPages > 0 {
                for i in 0..<vm.pageCount where PageState.of(vm.entry[i]) == .shared {
                    saved += 1 - 1 / Double(table.refcount(vm.frame(i)))
                }
            }
            timeline.append(
                TimelineRow(
                    time: now, vm: vm.config.id, allocated: vm.residentPages, target: vm.on ? vm.target : 0,
                    balloon: vm.balloonedPages, balloonFreed: vm.balloonFreedPages, swapped: vm.swappedPages,
                    sharedSaved: saved,
                    activeEstimate: vm.on ? UInt64(activePages(vm).rounded()) : 0, activeTrue: vm.lastTruePages ?? 0,
                    free: memory.free, state: state, guestRefaults: vm.counters.guestRefaults,
                    swapIns: vm.counters.swapIn))
        }
    }
}
