/// The idle memory tax and min-funding revocation (docs/PAPER.md §5; docs/MODEL.md "Targets").
/// Pure functions: no engine state.
public enum IdleTax {
    /// k = 1 / (1 − τ): the cost of an idle page relative to an active one.
    public static func k(tau: Double) -> Double {
        precondition(tau >= 0 && tau < 1, "tau must be in [0, 1)")
        return 1 / (1 - tau)
    }

    /// ρ = S / (P · (f + k·(1 − f))) = S / (A + k·(P − A)) with A = f·P active pages; `active`
    /// beyond `pages` counts as `pages` (f = 1).
    public static func rho(shares: Double, pages: Double, active: Double, k: Double) -> Double {
        let a = min(max(active, 0), pages)
        let denom = a + k * (pages - a)
        return denom > 0 ? shares / denom : .infinity
    }

    /// One VM's claim on memory for target computation.
    public struct Claim: Equatable, Sendable {
        public var shares: Double
        public var minPages: UInt64
        public var maxPages: UInt64
        /// The estimated active memory D in pages (≤ max), not limited by what the VM holds: ρ at
        /// an allocation of p pages counts min(D, p) of them as active.
        public var activePages: Double
        /// Pages the VM holds now (P: private + shared PPNs, and its swap tier's machine pages).
        public var heldPages: UInt64
        /// Pages in the VM's balloon.
        public var balloonPages: UInt64
        /// Guest faults on ballooned pages in the last sample period (or so far in this one, if
        /// more): the VM touching memory it gave its balloon, which it cannot take back by itself
        /// (the balloon keeps its size; the guest gives up another page) — its demand beyond its
        /// allocation, as the host sees it.
        public var balloonFaults: UInt64
        public init(
            shares: Double, minPages: UInt64, maxPages: UInt64, activePages: Double,
            heldPages: UInt64? = nil, balloonPages: UInt64 = 0, balloonFaults: UInt64 = 0
        ) {
            self.shares = shares
            self.minPages = minPages
            self.maxPages = maxPages
            self.activePages = min(max(activePages, 0), Double(maxPages))
            self.heldPages = min(heldPages ?? maxPages, maxPages)
            self.balloonPages = min(balloonPages, maxPages - self.heldPages)
            self.balloonFaults = balloonFaults
        }

        /// What the VM asks for: what it holds, plus as much of its balloon as it faulted on,
        /// c = P + min(balloon, balloon faults) (docs/MODEL.md "Targets").
        public var claimPages: UInt64 { heldPages + min(balloonPages, balloonFaults) }
    }

    /// Min-funding revocation, the reference algorithm: start every VM at `start[i]` pages and
    /// take memory page by page from the VM with the lowest ρ (ties: the lowest index) that is
    /// above its min, until the total fits in `available` pages or every VM is at its min (or
    /// at its start, if that is below its min).
    public static func revokePageByPage(_ claims: [Claim], start: [UInt64], available: UInt64, tau: Double) -> [UInt64]
    {
        let k = k(tau: tau)
        var t = start
        var total = t.reduce(0, +)
        while total > available {
            var best = -1
            var bestRho = Double.infinity
            for (i, c) in claims.enumerated() where t[i] > c.minPages {
                let r = rho(shares: c.shares, pages: Double(t[i]), active: c.activePages, k: k)
                if best < 0 || r < bestRho { best = i; bestRho = r }
            }
            if best < 0 { break }
            t[best] -= 1
            total -= 1
        }
        return t
    }

    /// The same result as `revokePageByPage`, in O(VMs · 64 · log max) time.
    ///
    /// Why it is the same: the page-by-page process always takes from the VM whose current ρ is
    /// lowest (ties: lowest index), and each VM's ρ only rises as it gives pages. So the pages
    /// taken are exactly the first `need` "give" events in (ρ before giving, VM index) order —
    /// a merge of per-VM sorted sequences. This finds the ρ value x* of the last event taken by
    /// bisection over the bit patterns of doubles (positive doubles order like their bits),
    /// takes every event with ρ < x*, then the remaining events with ρ == x* in VM order.
    /// A property test checks it equals the reference.
    public static func revoke(_ claims: [Claim], start: [UInt64], available: UInt64, tau: Double) -> [UInt64] {
        let k = k(tau: tau)
        let total = start.reduce(0, +)
        if total <= available { return start }
        let need = total - available
        let givable = claims.indices.reduce(0) { $0 + (start[$1] - min(claims[$1].minPages, start[$1])) }
        if need >= givable { return claims.indices.map { min(claims[$0].minPages, start[$0]) } }
        func r(_ i: Int, _ p: UInt64) -> Double {
            rho(shares: claims[i].shares, pages: Double(p), active: claims[i].activePages, k: k)
        }
        /// Events of VM i with ρ before giving < x (strict) or ≤ x: pages p in [min+1, start]
        /// with ρ(p) below x; ρ is non-increasing in p, so they are p ≥ some p0.
        func count(_ i: Int, _ x: Double, strict: Bool) -> UInt64 {
            let top = start[i]
            let lo0 = claims[i].minPages + 1
            guard top >= lo0 else { return 0 }
            func below(_ p: UInt64) -> Bool { strict ? r(i, p) < x : r(i, p) <= x }
            if !below(top) { return 0 }
            var lo = lo0, hi = top  // find smallest p in [lo0, top] with below(p)
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if below(mid) { hi = mid } else { lo = mid + 1 }
            }
            return top - lo + 1
        }
        func countAll(_ x: Double, strict: Bool) -> UInt64 {
            claims.indices.reduce(0) { $0 + count($1, x, strict: strict) }
        }
        // Smallest x (as a bit pattern; ρ ≥ 0, possibly +inf) with countAll(x, ≤) ≥ need.
        var lo: UInt64 = 0, hi = Double.infinity.bitPattern
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if countAll(Double(bitPattern: mid), strict: false) >= need { hi = mid } else { lo = mid + 1 }
        }
        let x = Double(bitPattern: lo)
        var t = start
        var taken: UInt64 = 0
        var atX: [UInt64] = []
        for i in claims.indices {
            let less = count(i, x, strict: true)
            t[i] -= less
            taken += less
            atX.append(count(i, x, strict: false) - less)
        }
        var rest = need - taken
        for i in claims.indices where rest > 0 {
            let g = min(rest, atX[i])
            t[i] -= g
            rest -= g
        }
        return t
    }

    /// The targets (docs/MODEL.md "Targets"): every VM starts at its claim (`claimPages`), and
    /// min-funding revocation takes Σ claim − `available` pages, page by page from the lowest ρ,
    /// so the host reclaims the deficit and no more, and memory a VM lost comes back to it when
    /// its ρ is higher than that of the VMs holding memory. A VM that gives nothing gets target
    /// max (it may grow; when it does, free memory falls and the next balance revokes again).
    public static func targets(_ claims: [Claim], available: UInt64, tau: Double, pageByPage: Bool = false) -> [UInt64]
    {
        let start = claims.map(\.claimPages)
        let t =
            pageByPage
            ? revokePageByPage(claims, start: start, available: available, tau: tau)
            : revoke(claims, start: start, available: available, tau: tau)
        return claims.indices.map { t[$0] < start[$0] ? t[$0] : claims[$0].maxPages }
    }

    /// The reference computation of `targets`, page by page (tests compare the two).
    public static func targetsPageByPage(_ claims: [Claim], available: UInt64, tau: Double) -> [UInt64] {
        targets(claims, available: available, tau: tau, pageByPage: true)
    }
}
