import TraceFormat

extension ReplayEngine {
    /// The end of a sample period for every powered-on VM (docs/PAPER.md §5.3): fold the period's
    /// traps into the estimator, compare with the pages really touched, then pick and mark the
    /// next period's n distinct pages (uniformly among all the VM's PPNs, without replacement) and
    /// invalidate their mappings so that the next access traps.
    func samplePeriodEnd() {
        for vm in vms {
            guard vm.on else { continue }
            // A period measured something only if pages were sampled at its start (not the
            // first period after power-on).
            if !vm.sampledPPNs.isEmpty {
                vm.estimator.endPeriod(touched: vm.traps, sampled: vm.sampledPPNs.count)
                let est = min(1, max(vm.estimator.slow, vm.estimator.fast)) * Double(vm.config.maxPages)
                let truth = Double(vm.touchedThisPeriod)
                vm.periods += 1
                vm.estimateSum += est
                vm.trueSum += truth
                vm.absErrorSum += abs(est - truth)
                for m in mechanisms { m.periodEnded(self, vm, truth: truth, estimate: est) }
                vm.lastTruePages = vm.touchedThisPeriod
                if recordPeriods {
                    let max = Double(vm.config.maxPages)
                    periods.append(
                        PeriodRow(
                            time: now, vm: vm.config.id, slow: vm.estimator.slow * max, fast: vm.estimator.fast * max,
                            estimate: est, truth: UInt64(vm.touchedThisPeriod),
                            monitor: mechanisms.lazy.compactMap { $0.periodEstimate(vm) }.first))
                }
            }
            for p in vm.sampledPPNs { vm.flags[Int(p)] &= ~PageFlag.sampled }
            vm.sampledPPNs.removeAll(keepingCapacity: true)
            vm.traps = 0
            vm.lastBalloonFaults = vm.balloonFaults
            nextStamp(vm)
            drawSample(vm)
        }
    }

    /// Picks this period's n distinct PPNs, uniformly (Floyd's algorithm: for j = N − n … N − 1
    /// draw t in [0, j]; take t unless already taken, else j), marks them and invalidates their
    /// mappings. The sampled flag marks membership; every flag was cleared before. n is capped
    /// at the VM's pages, so f = t / n is unbiased and n = N samples every page. Each period
    /// draws from its own stream (seed, VM, period number).
    func drawSample(_ vm: VMState) {
        var rng = SeededRandom.stream(seed: policy.seed, vm: vm.config.id, .sampling, vm.sampleRound)
        vm.sampleRound += 1
        let total = UInt64(vm.pageCount)
        let n = min(UInt64(policy.sampleSize), total)
        var j = total - n
        while j < total {
            var p = UInt32(rng.below(j + 1))
            if vm.flags[Int(p)] & PageFlag.sampled != 0 { p = UInt32(j) }
            invalidateShadow(vm, ppn: p)
            vm.flags[Int(p)] |= PageFlag.sampled
            vm.sampledPPNs.append(p)
            j += 1
        }
    }

    /// Starts a new true-working-set period: a fresh 7-bit stamp (1…127, so a stamp comes back
    /// every 127 periods), and one step of the stamp sweep.
    func nextStamp(_ vm: VMState) {
        vm.touchedThisPeriod = 0
        vm.balloonFaults = 0
        vm.stamp = vm.stamp >= 127 ? 1 : vm.stamp + 1
        sweepStamps(vm, steps: 1)
    }

    /// The stamp sweep, which keeps "touched this period" (stamp = the current stamp) exact
    /// without visiting every page each period: the pages are cut into 126 windows, and each
    /// period start clears the stamps of the next window (cyclically). Every page is swept once
    /// in any 126 consecutive periods, so a page stamped in period p is cleared before its stamp
    /// comes back in period p + 127, unless touched again. No page carries the current stamp
    /// when a period starts, so clearing a whole window loses nothing. Cost per period: a
    /// 126th of the pages (it was all of them, which over a long trace outweighed the records).
    /// `steps` periods at once (fast-forward) sweep `steps` windows.
    func sweepStamps(_ vm: VMState, steps: UInt64) {
        let n = vm.pageCount, w = VMState.stampWindows
        // Windows of a multiple of 64 pages, so each starts on a 256-byte boundary and is read
        // two page words at a time.
        let width = ((n + w - 1) / w + 63) & ~63
        let swept = steps >= UInt64(w) ? w : Int(steps)
        let stamps: UInt64 = 0x0000_0001_0000_0001 &* UInt64(PageFlag.stampMask)
        let base = UnsafeMutableRawPointer(vm.word)
        for _ in 0..<swept {
            let lo = min(vm.stampSweep * width, n)
            let hi = min(lo + width, n)
            let whole = lo + (hi - lo) / 2 * 2
            // Only words holding a stamp are written: untouched pages stay unbacked.
            var q = lo
            while q < whole {
                let x = base.load(fromByteOffset: q * 4, as: UInt64.self)
                if x & stamps != 0 { base.storeBytes(of: x & ~stamps, toByteOffset: q * 4, as: UInt64.self) }
                q += 2
            }
            for i in whole..<hi where vm.flags[i] & PageFlag.stampMask != 0 { vm.flags[i] &= ~PageFlag.stampMask }
            vm.stampSweep = vm.stampSweep + 1 == w ? 0 : vm.stampSweep + 1
        }
        // Beyond 126 steps every window has been swept once; the rest only move the position.
        vm.stampSweep = (vm.stampSweep + Int((steps - UInt64(swept)) % UInt64(w))) % w
    }
}
