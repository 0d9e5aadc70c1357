import TraceFormat

/// Fast-forward over steady spans (docs/MODEL.md "Fast-forward"). Between records the model
/// only runs its periodic tasks; once they no longer change anything but counters — every
/// powered-on VM's estimator at its fixed point with nothing touched, no shadow mapping left
/// for sampling to invalidate, no balloon or page to move, the targets and the state stable,
/// and the scanner through a whole sweep of every VM without a change — every later tick does
/// exactly the same until the next record. Such a span is then applied in closed form: the
/// counters advance by what the skipped ticks would add (sums of floating-point values are
/// added one by one, so the result is the same to the bit), the scan's partial sweeps are
/// visited for real and whole sweeps are counted, the last sample is drawn from its own
/// stream, and timeline rows are copied. A replay's cost is then bounded by its records and
/// by the work that changes something, not by the length of simulated time. Tests compare
/// replays with and without it byte for byte.
extension ReplayEngine {
    /// The most sample periods one fast-forward covers (95 years at 30 s).
    static let maxSkippedPeriods: UInt64 = 100_000_000

    /// Tries to skip from `now` to a little before `t`; false (nothing changed) if the model is
    /// not steady.
    func fastForwardSteady(before t: Micros, finishing: Bool = false) throws(ReplayError) -> Bool {
        let margin = fastForwardMinSpan.rawValue / 2
        guard t.rawValue > now.rawValue + margin else { return false }
        let end = Micros(t.rawValue - margin)
        // Every task due at or before `now` has run (we are at the top of the clock loop).
        guard nextScan > now, nextReclaim > now, nextSample > now, nextBalance > now else { return false }
        let on = vms.filter(\.on)
        // A mechanism that would act at some tick of the span: not steady.
        for m in mechanisms where !m.isSteady(self) { return false }

        // Steady checks, cheapest first.
        if overcommitted && state.next(free: memory.free, thresholds) != state { return false }
        let floor = thresholds.aim + thresholds.margin
        let headroom = memory.free > floor ? memory.free - floor : 0
        let transferring = overcommitted && state < .soft && transferNeed(floor: floor) > 0
        for vm in on {
            guard !vm.sampledPPNs.isEmpty, vm.traps == 0, vm.touchedThisPeriod == 0, vm.lastTruePages == 0,
                vm.balloonFaults == 0, vm.lastBalloonFaults == 0
            else { return false }
            var e = vm.estimator
            e.endPeriod(touched: 0, sampled: vm.sampledPPNs.count)
            guard e == vm.estimator else { return false }
            if scanner.offersPages && policy.shareScanVM > 0 && policy.shareScanTotal > 0
                && vm.steadyEpoch != changeEpoch
            {
                return false
            }
            if overcommitted {
                let resident = vm.residentPages
                if resident > vm.target && (state != .high || transferring) { return false }
                if vm.config.balloon && vm.balloonedPages > 0 && headroom > 0 && vm.target > resident
                    && policy.balloonRate >= 1
                {
                    return false
                }
            }
        }
        let claims = targetClaims(on)
        let targets = IdleTax.targets(claims, available: availableForVMs(on), tau: policy.idleTax)
        guard targets == on.map(\.target), claims.map(\.claimPages) == on.map(\.claim) else { return false }
        // No mapping left for a sample to invalidate (the invalidation count would depend on
        // the skipped draws).
        for vm in on {
            for i in 0..<vm.pageCount where vm.flags[i] & (PageFlag.shadowValid | PageFlag.virtualMapped) != 0 {
                return false
            }
        }

        // How often each task would have run in (now, end].
        func firings(_ next: Micros, _ period: Micros) -> UInt64 {
            next > end ? 0 : (end.rawValue - next.rawValue) / period.rawValue + 1
        }
        let scans = firings(nextScan, ReplayEngine.tick)
        let reclaims = firings(nextReclaim, ReplayEngine.tick)
        let samples = firings(nextSample, samplePeriod)
        let balances = firings(nextBalance, balancePeriod)
        let rows = timelineInterval.map { firings(nextTimeline!, $0) } ?? 0
        guard scans > 0 else { return false }

        // The scan's credits, tick by tick until they repeat, then by the cycle.
        guard let visits = scanVisits(ticks: scans) else { return false }
        // Per-period floating-point sums are added one by one (to stay identical to the tick by
        // tick run), and allocatedSum adds an integer per tick (exact as one product while below
        // 2^53): both bound how much simulated time one replay can cover.
        let tooLong =
            samples > ReplayEngine.maxSkippedPeriods
            || on.contains { Double($0.residentPages) * Double(reclaims) + $0.allocatedSum >= 0x1p53 }
        if tooLong {
            let remedy =
                finishing
                ? "use a shorter --settle (the run goes on that long after the last record), or a longer samplePeriod"
                : "use --until to stop before the next record, at \(t.rawValue) µs, or a longer samplePeriod"
            throw fail(
                String(
                    format:
                        "the run would go on for %.3g more seconds of simulated time (%.3g years); the model keeps its per-period statistics exactly for at most %llu sample periods at a time: %@",
                    Double(t.rawValue - now.rawValue) / 1e6, Double(t.rawValue - now.rawValue) / 1e6 / 31_557_600,
                    ReplayEngine.maxSkippedPeriods, remedy))
        }
        if timelineInterval != nil {
            let bytes = Double(timeline.count) + Double(rows) * Double(vms.count)
            if let problem = MemoryBudget.problem(
                bytes * TimelineRow.plannedBytes, for: "the timeline (\(Int(bytes)) rows)")
            {
                throw fail(problem + ", or a longer --timeline-interval")
            }
        }

        // Apply.
        var rowTemplate: [TimelineRow] = []
        if rows > 0 {
            let n = timeline.count
            recordTimeline()
            rowTemplate = Array(timeline[n...])
            timeline.removeLast(timeline.count - n)
        }
        accountTime(to: end)
        for vm in on {
            vm.allocatedSum += Double(vm.residentPages) * Double(reclaims)
            vm.allocatedSamples += reclaims
            if overcommitted && vm.config.balloon && reclaims > 0 {
                vm.balloonCredit = min(vm.balloonCredit + policy.balloonRate, policy.balloonRate)
            }
        }
        scanTicks += scans
        if scanner.offersPages && !vms.isEmpty {
            for (vm, v) in zip(vms, visits) where v > 0 { skipVisits(vm, v) }
        }
        if scanner.offersPages && !vms.isEmpty { scanRotation += Int(scans) }
        if samples > 0 {
            for vm in on {
                let est = min(1, max(vm.estimator.slow, vm.estimator.fast)) * Double(vm.config.maxPages)
                for _ in 0..<samples {
                    vm.periods += 1
                    vm.estimateSum += est
                    vm.absErrorSum += abs(est - 0)  // the truth is 0: nothing touched
                }
                skipStamps(vm, periods: samples)
                for p in vm.sampledPPNs { vm.flags[Int(p)] &= ~PageFlag.sampled }
                vm.sampledPPNs.removeAll(keepingCapacity: true)
                vm.sampleRound += samples - 1
                drawSample(vm)
            }
        }
        if let iv = timelineInterval, rows > 0 {
            var at = nextTimeline!
            for _ in 0..<rows {
                for var r in rowTemplate {
                    r.time = at
                    timeline.append(r)
                }
                at = Micros(at.rawValue + iv.rawValue)
            }
        }
        nextScan = Micros(nextScan.rawValue + scans * ReplayEngine.tick.rawValue)
        nextReclaim = Micros(nextReclaim.rawValue + reclaims * ReplayEngine.tick.rawValue)
        nextSample = Micros(nextSample.rawValue + samples * samplePeriod.rawValue)
        nextBalance = Micros(nextBalance.rawValue + balances * balancePeriod.rawValue)
        if let iv = timelineInterval { nextTimeline = Micros(nextTimeline!.rawValue + rows * iv.rawValue) }
        nextDue = .zero
        fastForwards += 1
        if checkFullEveryStep { try checkInvariants() }
        return true
    }

    /// Candidates each VM (by index) would visit in `ticks` scan ticks, from the credit
    /// arithmetic of `scanTick` replayed exactly; nil if it does not settle into a cycle
    /// within a few thousand ticks.
    private func scanVisits(ticks: UInt64) -> [UInt64]? {
        var visits = [UInt64](repeating: 0, count: vms.count)
        guard scanner.offersPages, !vms.isEmpty else { return visits }
        let n = vms.count
        var g = scanGlobalCredit
        var credit = vms.map(\.scanCredit)
        var rotation = scanRotation
        let total = policy.shareScanTotal, rate = policy.shareScanVM
        func key() -> [UInt64] { [g.bitPattern, UInt64(rotation % n)] + credit.map(\.bitPattern) }
        var seen: [[UInt64]: UInt64] = [:]  // looked up only, never iterated
        var history: [[UInt64]] = []  // visits per VM after each tick, cumulative
        var tick: UInt64 = 0
        while tick < ticks {
            let k = key()
            if let first = seen[k] {
                // Ticks first…tick−1 repeat forever: add whole cycles, then the remainder.
                let cycle = tick - first
                let base = first == 0 ? [UInt64](repeating: 0, count: n) : history[Int(first) - 1]
                let perCycle = (0..<n).map { visits[$0] - base[$0] }
                let left = ticks - tick
                let whole = left / cycle, rest = left % cycle
                let restEnd = rest == 0 ? base : history[Int(first + rest) - 1]
                for i in 0..<n { visits[i] += whole * perCycle[i] + (restEnd[i] - base[i]) }
                // The credits end where the cycle's `rest`-th tick leaves them: replay those.
                for _ in 0..<rest { _ = step() }
                commit()
                return visits
            }
            guard seen.count < 4096 else { return nil }
            seen[k] = tick
            let b = step()
            for i in 0..<n { visits[i] += b[i] }
            history.append(visits)
            tick += 1
        }
        commit()
        return visits

        /// One tick of `scanTick`'s credit arithmetic; the candidates each VM gets.
        func step() -> [UInt64] {
            var budgets = [UInt64](repeating: 0, count: n)
            g = min(g + total, total + 1)
            let start = rotation % n
            rotation += 1
            for j in 0..<n {
                let i = (start + j) % n
                guard vms[i].on else { continue }
                credit[i] = min(credit[i] + rate, rate + 1)
                let budget = min(Int(credit[i].rounded(.down)), Int(g.rounded(.down)))
                guard budget > 0 else { continue }
                credit[i] -= Double(budget)
                g -= Double(budget)
                budgets[i] = UInt64(budget)
            }
            return budgets
        }
        func commit() {
            scanGlobalCredit = g
            for (i, vm) in vms.enumerated() { vm.scanCredit = credit[i] }
            // scanRotation is advanced by the caller by the number of ticks.
        }
    }

    /// `count` scanner visits of a steady VM: the current sweep's rest and the last partial
    /// sweep are visited for real (they change nothing), whole sweeps in between are counted.
    private func skipVisits(_ vm: VMState, _ count: UInt64) {
        let pages = UInt64(vm.pageCount)
        var left = count
        let toEnd = min(left, pages - min(vm.scanPosition, pages))
        for _ in 0..<toEnd { scanNext(vm) }
        left -= toEnd
        if left >= pages {
            let whole = left / pages
            vm.scanSweep += whole
            vm.scanPosition = pages
            vm.counters.pagesScanned += whole * pages
            vm.counters.volatileSkipped += whole * vm.steadyVolatile
            vm.counters.falseMatches += whole * vm.steadyFalse
            left -= whole * pages
        }
        for _ in 0..<left { scanNext(vm) }
    }

    /// What `periods` calls of `nextStamp` do with nothing touched: the stamp advances
    /// `periods` times and the stamp sweep takes as many steps.
    private func skipStamps(_ vm: VMState, periods: UInt64) {
        vm.stamp = UInt16((UInt64(vm.stamp) - 1 + periods % 127) % 127 + 1)
        vm.touchedThisPeriod = 0
        sweepStamps(vm, steps: periods)
    }
}
