import CPrefetch

/// The guest's LRU order, exact (docs/MODEL.md "Guest LRU"): what the guest gives its balloon
/// and what the LRU and clock swap-victim choosers read. The state lives in `VMState` (the
/// "Guest LRU order" fields); the algorithm is here.
extension VMState {
    // MARK: guest LRU order

    /// Stamps `p` as the most recently used page.
    @inline(__always)
    func lruTouch(_ p: UInt32) {
        guard trackLRU else { return }
        if seqCounter == UInt32.max { renumber() }
        let i = Int(p)
        seq[i] = seqCounter
        seqCounter += 1
    }

    /// Makes `p` the least recently used page (a page the guest just got back, free).
    func lruPushTail(_ p: UInt32) {
        guard trackLRU else { return }
        if tailCounter <= 1 { renumber() }
        let i = Int(p)
        seq[i] = tailCounter
        // Each push sorts before every earlier push, so `tailStack` is sorted from its top.
        // An entry is usable only if it sorts before the queue's last key (every page outside
        // queue and stack sorts after that key); otherwise the next rescan finds the page.
        let key = UInt64(tailCounter) << 32 | UInt64(p)
        if let last = victimQueue.last, key < last { tailStack.append(key) }
        tailCounter -= 1
    }

    /// Marks a page that goes into the balloon: its sequence becomes the reserved value
    /// 0xFFFFFFFF (never handed out), so no queued key can match it.
    func lruForget(_ p: UInt32) {
        guard trackLRU else { return }
        seq[Int(p)] = UInt32.max
    }

    /// A queued key is current while the page still carries that sequence number (ballooned
    /// pages carry the reserved one): one word read.
    @inline(__always)
    private func current(_ item: UInt64) -> Bool {
        let p = Int(truncatingIfNeeded: item & 0xFFFF_FFFF)
        return UInt64(seq[p]) == item >> 32
    }

    /// Rebuilds the queue with the oldest half of the guest's pages (at least 64). Never-touched
    /// pages (sequence 0) are the oldest of all and come out of the pass in PPN order, so they
    /// head the queue as they are; only the rest of the k needs a selection in O(pages) and a
    /// sort (`VMState.oldest`).
    private func refill() {
        var untouched: [UInt64] = []
        var keys: [UInt64] = []
        keys.reserveCapacity(pageCount)
        for i in 0..<pageCount where PageState.of(entry[i]) != .ballooned {
            if seq[i] == 0 { untouched.append(UInt64(i)) } else { keys.append(UInt64(seq[i]) << 32 | UInt64(i)) }
        }
        let k = min(untouched.count + keys.count, max(64, pageCount / 2))
        victimQueue = VMState.oldest(untouched: untouched, touched: keys, k)
        victimHead = 0
        tailStack.removeAll()
    }

    /// The k smallest keys, ascending, of `untouched` (keys below 2^32, ascending) and `touched`
    /// (keys of 2^32 and above, in any order): every untouched key sorts first.
    static func oldest(untouched: [UInt64], touched: [UInt64], _ k: Int) -> [UInt64] {
        if untouched.count >= k { return Array(untouched.prefix(k)) }
        var rest = touched
        let need = k - untouched.count
        if need < rest.count { select(&rest, need) }
        rest.removeLast(rest.count - need)
        radixSort(&rest)
        return untouched + rest
    }

    /// Reorders `a` so that its first k elements are its k smallest: quickselect whose pivot is
    /// the median of three elements at pseudo-random positions (a fixed xorshift sequence, so
    /// the result is deterministic; the k smallest of distinct keys are unique anyway). Fixed
    /// positions (first, middle, last) went quadratic on the key patterns refills produce
    /// (a few large keys in front of an ascending run), O(n) expected this way.
    static func select(_ a: inout [UInt64], _ k: Int) {
        var lo = 0, hi = a.count - 1
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        func pick() -> Int {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return lo + Int(x % UInt64(hi - lo + 1))
        }
        while lo < hi {
            let p0 = a[pick()], p1 = a[pick()], p2 = a[pick()]
            let pivot = max(min(p0, p1), min(max(p0, p1), p2))
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { return }
        }
    }

    /// Sorts distinct keys ascending: least-significant-digit radix sort, one pass per byte in
    /// which the keys differ (a sequence number and a PPN vary in five or six of the eight),
    /// counting into 256 buckets. The order of distinct keys is unique, so this is the order
    /// any sort gives.
    static func radixSort(_ a: inout [UInt64]) {
        guard a.count > 64 else { a.sort(); return }
        var orAll: UInt64 = 0, andAll: UInt64 = ~0
        for x in a { orAll |= x; andAll &= x }
        let varying = orAll ^ andAll
        var buffer = [UInt64](repeating: 0, count: a.count)
        var count = [Int](repeating: 0, count: 256)
        for shift in stride(from: UInt64(0), to: 64, by: 8) where (varying >> shift) & 0xFF != 0 {
            for i in 0..<256 { count[i] = 0 }
            for x in a { count[Int(truncatingIfNeeded: (x >> shift) & 0xFF)] += 1 }
            var start = 0
            for i in 0..<256 {
                let c = count[i]
                count[i] = start
                start += c
            }
            for x in a {
                let d = Int(truncatingIfNeeded: (x >> shift) & 0xFF)
                buffer[count[d]] = x
                count[d] += 1
            }
            swap(&a, &buffer)
        }
    }

    /// Visits the guest's pages from the least recently used, until `body` returns false.
    func lruWalk(_ body: (UInt32) -> Bool) {
        var refilled = false
        while true {
            while victimHead < victimQueue.count && !current(victimQueue[victimHead]) { victimHead += 1 }
            while let top = tailStack.last, !current(top) { tailStack.removeLast() }
            // Merge the queue and the tail stack in key order.
            var i = victimHead
            var j = tailStack.count - 1
            while i < victimQueue.count || j >= 0 {
                let item: UInt64
                if j >= 0 && (i >= victimQueue.count || tailStack[j] < victimQueue[i]) {
                    item = tailStack[j]
                    j -= 1
                } else {
                    item = victimQueue[i]
                    i += 1
                }
                if current(item) && !body(UInt32(truncatingIfNeeded: item & 0xFFFF_FFFF)) { return }
            }
            // Everything queued was refused or stale: rescan once for the next oldest pages.
            if refilled { return }
            refill()
            refilled = true
            if victimQueue.isEmpty { return }
        }
    }

    /// The guest's replacement victim: its least recently used page not in the balloon
    /// (never-touched pages first, in PPN order).
    func guestVictim() -> UInt32? {
        var v: UInt32?
        lruWalk { p in
            v = p; return false
        }
        // The next calls read the sequence numbers of the queued pages after this one, and the
        // balloon then reads the chosen page's word (entry and flags) (mostly cache misses): start
        // loading them now, while the caller works on this victim.
        let end = min(victimHead + 1 + VMState.victimPrefetch, victimQueue.count)
        if victimHead + 1 < end {
            for k in (victimHead + 1)..<end {
                let p = Int(truncatingIfNeeded: victimQueue[k] & 0xFFFF_FFFF)
                tt_prefetch_write(seq + p)
                tt_prefetch_write(word + p)
            }
        }
        return v
    }

    /// Queued pages whose sequence numbers `guestVictim` starts loading ahead.
    static let victimPrefetch = 4

    /// Renumbers every sequence number by rank, keeping the order, when a counter runs out.
    private func renumber() {
        var old: [UInt64] = []
        var young: [UInt64] = []
        for i in 0..<pageCount {
            let s = seq[i]
            if s == 0 || s == UInt32.max { continue }
            if s >= 1 << 31 {
                young.append(UInt64(s) << 32 | UInt64(i))
            } else {
                old.append(UInt64(s) << 32 | UInt64(i))
            }
        }
        old.sort()
        young.sort()
        func set(_ i: Int, _ s: UInt32) { seq[i] = s }
        for (r, k) in old.enumerated() { set(Int(k & 0xFFFF_FFFF), UInt32((1 << 31) - old.count + r)) }
        for (r, k) in young.enumerated() { set(Int(k & 0xFFFF_FFFF), UInt32((1 << 31) + r)) }
        tailCounter = UInt32((1 << 31) - old.count - 1)
        seqCounter = UInt32((1 << 31) + young.count)
        victimQueue.removeAll()
        victimHead = 0
        tailStack.removeAll()
    }
}
