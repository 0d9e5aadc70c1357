import TraceFormat

/// The free-memory states (docs/PAPER.md §6; docs/MODEL.md "Free-memory states"). `clear` is
/// vSphere 6's state between high and soft (`memoryStates=vsphere6`); the paper's scheme never
/// enters it.
public enum FreeState: String, Codable, Sendable, CaseIterable, Comparable {
    case high, clear, soft, hard, low

    var level: Int {
        switch self {
        case .high: 0
        case .clear: 1
        case .soft: 2
        case .hard: 3
        case .low: 4
        }
    }

    public static func < (a: FreeState, b: FreeState) -> Bool { a.level < b.level }

    /// Thresholds in pages.
    public struct Thresholds: Equatable, Sendable {
        public var high: UInt64, soft: UInt64, hard: UInt64, low: UInt64
        /// vSphere 6's clear threshold (100% of minFree); 0 in the paper's scheme (no clear state).
        public var clear: UInt64 = 0
        /// Extra pages needed above a threshold before going back up.
        public var margin: UInt64
        public init(high: UInt64, soft: UInt64, hard: UInt64, low: UInt64, margin: UInt64 = 0, clear: UInt64 = 0) {
            self.high = high; self.soft = soft; self.hard = hard; self.low = low; self.margin = margin;
            self.clear = clear
        }
        /// The thresholds of the policy's state scheme (MemoryStateSchemes).
        public init(machinePages m: UInt64, policy p: Policy, pageSize: UInt64 = 4096) {
            self = MemoryStateSchemes.registration(p.memoryStates).thresholds(m, p, pageSize)
        }
        /// Whether the scheme has a clear state (vSphere 6).
        public var hasClear: Bool { clear > 0 }
        /// The free memory targets and balloon deflation aim at (plus the margin): high in the
        /// paper, clear in vSphere 6 (no reclamation happens above it).
        public var aim: UInt64 { hasClear ? clear : high }
    }

    /// vSphere's minFree for a host of `m` pages: 6% of the first 4 GiB, 4% of the next 8 GiB,
    /// 2% of the next 16 GiB and 1% of the rest (0.24 + 0.32 + 0.32 GiB = 901.12 MiB at 28 GiB;
    /// 6% — the paper's high threshold — on hosts of at most 4 GiB), rounded up to whole pages.
    public static func minFreePages(machinePages m: UInt64, pageSize: UInt64) -> UInt64 {
        let gib = Double(1 << 30)
        let bytes = Double(m) * Double(pageSize)
        let bands: [(upTo: Double, rate: Double)] = [
            (4 * gib, 0.06), (12 * gib, 0.04), (28 * gib, 0.02), (.infinity, 0.01),
        ]
        var from = 0.0, total = 0.0
        for b in bands where bytes > from {
            total += (min(bytes, b.upTo) - from) * b.rate
            from = b.upTo
        }
        return UInt64((total / Double(pageSize)).rounded(.up))
    }

    /// The next state given `free` pages: down as many levels as free memory has fallen below
    /// (several at once if it fell fast); up one level at a time, and only once free memory is
    /// at least the threshold above the one that made it enter (plus the margin).
    public func next(free: UInt64, _ t: Thresholds) -> FreeState {
        // Going down.
        let down: FreeState =
            free < t.low ? .low : free < t.hard ? .hard : free < t.soft ? .soft : free < t.clear ? .clear : .high
        if down > self { return down }
        // Going up, one level, with hysteresis.
        switch self {
        case .high: return .high
        case .clear: return free >= t.high + t.margin ? .high : .clear
        case .soft:
            if t.hasClear { return free >= t.clear + t.margin ? .clear : .soft }
            return free >= t.high + t.margin ? .high : .soft
        case .hard: return free >= t.soft + t.margin ? .soft : .hard
        case .low: return free >= t.hard + t.margin ? .hard : .low
        }
    }
}

extension ReplayEngine {
    /// Logs a state change (`recordStates`). The log grows with transitions, which records and
    /// work drive; a log the memory budget cannot hold stops growing and says so at its end.
    func noteStateChange(_ s: FreeState) {
        if stateChanges.count >= 4096 && stateChanges.count.nonzeroBitCount == 1,
            MemoryBudget.problem(Double(stateChanges.count * 2 * 16), for: "the state log") != nil
        {
            recordStates = false
            stateLogTruncated = true
            return
        }
        stateChanges.append((now, s))
    }

    /// Moves between the free-memory states; a change recomputes targets.
    func updateState() {
        let s = state.next(free: memory.free, thresholds)
        // Unchanged: the same free memory gives the same answer until it moves. Changed: going
        // up is one level per evaluation, so the next record evaluates again.
        stateCheckedFree = s == state ? memory.free : .max
        if s != state {
            transitions["\(state.rawValue)->\(s.rawValue)", default: 0] += 1
            if recordStates { noteStateChange(s) }
            state = s
            for m in mechanisms { m.stateChanged(self) }
            recomputeTargets()
        }
    }
}
