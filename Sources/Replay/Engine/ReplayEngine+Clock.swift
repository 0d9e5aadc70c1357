import TraceFormat

extension ReplayEngine {
    // MARK: the clock

    /// Runs every periodic task due at or before `t` in time order (at equal times: the
    /// mechanisms' `secondBegins`, sampling, balancing, the mechanisms' `beforeReclaim`,
    /// reclamation, scanning, timeline) and moves the clock to `t`. A timeline row
    /// stamped T describes the state after every record stamped ≤ T (docs/REPORT.md
    /// "Intervals"), so a row due at `t` itself waits for the records at `t`, unless
    /// `finishing` (no record follows).
    public func advance(to t: Micros) throws(ReplayError) {
        try advance(to: t, finishing: false)
    }

    func advance(to t: Micros, finishing: Bool) throws(ReplayError) {
        if t < nextDue {
            accountTime(to: t)
            return
        }
        stepsInSpan = 0
        while true {
            stepsInSpan &+= 1
            if stepsInSpan & 0xFFFF == 0, let spanProgress { spanProgress(now, t) }
            if fastForward, t.rawValue > now.rawValue + fastForwardMinSpan.rawValue, now >= nextFastForwardTry {
                if try !fastForwardSteady(before: t, finishing: finishing) {
                    nextFastForwardTry = Micros(now.rawValue + samplePeriod.rawValue)
                }
            }
            var next = nextSample
            if nextBalance < next { next = nextBalance }
            if nextReclaim < next { next = nextReclaim }
            if nextScan < next { next = nextScan }
            let others = next
            if let tl = nextTimeline, tl < next { next = tl }
            nextDue = next
            if next > t { break }
            let timelineNow = nextTimeline == next && (next < t || finishing)
            if others != next && !timelineNow { break }  // only a timeline row at t: it waits
            accountTime(to: next)
            // Mechanisms' one-second work first: a sample period ending at the same instant
            // sees what it did (an access monitor's aggregation, say).
            if nextReclaim == next { for m in mechanisms { m.secondBegins(self) } }
            if nextSample == next {
                samplePeriodEnd()
                nextSample = Micros(next.rawValue + samplePeriod.rawValue)
            }
            if nextBalance == next {
                recomputeTargets()
                nextBalance = Micros(next.rawValue + balancePeriod.rawValue)
            }
            if nextReclaim == next {
                for m in mechanisms { m.beforeReclaim(self) }
                try reclaimTick()
                nextReclaim = Micros(next.rawValue + ReplayEngine.tick.rawValue)
            }
            if nextScan == next {
                scanTick()
                nextScan = Micros(next.rawValue + ReplayEngine.tick.rawValue)
            }
            if timelineNow, let iv = timelineInterval {
                let rows = Double(timeline.count + vms.count) * TimelineRow.plannedBytes
                if let problem = MemoryBudget.problem(
                    rows,
                    for:
                        "the timeline (\(timeline.count + vms.count) rows so far at one per VM per \(Units.formatDuration(iv)))"
                ) {
                    throw fail(problem + ", or a longer --timeline-interval")
                }
                recordTimeline()
                nextTimeline = Micros(next.rawValue + iv.rawValue)
            }
            if overcommitted { updateState() }
            if checkFullEveryStep { try checkInvariants() }
        }
        accountTime(to: t)
    }

    @inline(__always)
    func accountTime(to t: Micros) {
        if t > now {
            let d = t.rawValue - now.rawValue
            switch state {
            case .high: stateTime.0 += d
            case .clear: stateTime.1 += d
            case .soft: stateTime.2 += d
            case .hard: stateTime.3 += d
            case .low: stateTime.4 += d
            }
            now = t
        }
    }
}
