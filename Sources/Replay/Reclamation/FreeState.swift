/// The free-memory states (docs/PAPER.md §6; docs/MODEL.md "Free-memory states").
public enum FreeState: String, Codable, Sendable, CaseIterable, Comparable {
    case high, soft, hard, low

    var level: Int {
        switch self {
        case .high: 0
        case .soft: 1
        case .hard: 2
        case .low: 3
        }
    }

    public static func < (a: FreeState, b: FreeState) -> Bool { a.level < b.level }

    /// Thresholds in pages.
    public struct Thresholds: Equatable, Sendable {
        public var high: UInt64, soft: UInt64, hard: UInt64, low: UInt64
        /// Extra pages needed above a threshold before going back up.
        public var margin: UInt64
        public init(high: UInt64, soft: UInt64, hard: UInt64, low: UInt64, margin: UInt64 = 0) {
            self.high = high; self.soft = soft; self.hard = hard; self.low = low; self.margin = margin
        }
        public init(machinePages m: UInt64, policy p: Policy) {
            func pages(_ f: Double) -> UInt64 { UInt64((Double(m) * f).rounded(.up)) }
            self.init(high: pages(p.highFree), soft: pages(p.softFree), hard: pages(p.hardFree), low: pages(p.lowFree),
                      margin: pages(p.hysteresis))
        }
    }

    /// The next state given `free` pages: down as many levels as free memory has fallen below
    /// (several at once if it fell fast); up one level at a time, and only once free memory is
    /// at least the threshold above the one that made it enter (plus the margin).
    public func next(free: UInt64, _ t: Thresholds) -> FreeState {
        // Going down.
        let down: FreeState = free < t.low ? .low : free < t.hard ? .hard : free < t.soft ? .soft : .high
        if down > self { return down }
        // Going up, one level, with hysteresis.
        switch self {
        case .high: return .high
        case .soft: return free >= t.high + t.margin ? .high : .soft
        case .hard: return free >= t.soft + t.margin ? .soft : .hard
        case .low: return free >= t.hard + t.margin ? .hard : .low
        }
    }
}

extension ReplayEngine {
    /// Moves between the free-memory states; a change recomputes targets.
    func updateState() {
        let s = state.next(free: memory.free, thresholds)
        if s != state {
            transitions["\(state.rawValue)->\(s.rawValue)", default: 0] += 1
            state = s
            if s != .high && largeBlocks > 0 { splitLargePages() }
            recomputeTargets()
        }
    }
}
