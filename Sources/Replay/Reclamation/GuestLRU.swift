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
        if !victimQueue.isEmpty && key < queueLast { tailStack.append(key) }
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

    /// Rebuilds the queue with (at least) the oldest half of the guest's pages (at least 64).
    /// Never-touched pages (sequence 0) are the oldest of all and come out of the pass in PPN
    /// order, so they head the queue as they are, as its bucket 0; the rest is bucketed by
    /// sequence (`VMState.bucketed`) and each bucket sorted only when the walk reaches it, by
    /// then without the keys that went stale (most of them, under a workload that keeps
    /// touching its pages).
    private func refill() {
        var untouched: [UInt64] = []
        var keys: [UInt64] = []
        keys.reserveCapacity(pageCount)
        var lo = UInt32.max, hi: UInt32 = 0
        for i in 0..<pageCount where PageState.of(entry[i]) != .ballooned {
            let s = seq[i]
            if s == 0 {
                untouched.append(UInt64(i))
            } else {
                keys.append(UInt64(s) << 32 | UInt64(i))
                lo = min(lo, s)
                hi = max(hi, s)
            }
        }
        let k = min(untouched.count + keys.count, max(64, pageCount / 2))
        let q = VMState.bucketed(untouched: untouched, touched: keys, lo: lo, hi: hi, k)
        victimQueue = q.keys
        queueBounds = q.bounds
        queueLive = [Int](repeating: -1, count: q.bounds.count - 1)
        if !untouched.isEmpty { queueLive[0] = q.bounds[1] }  // in PPN order already
        queueLast = q.last
        victimHead = 0
        headBucket = 0
        tailStack.removeAll()
    }

    /// At least the k smallest keys of `untouched` (keys below 2^32, ascending) and `touched`
    /// (keys of 2^32 and above, in any order, with sequences from `lo` to `hi`), in buckets:
    /// the untouched keys first (up to k, as bucket 0), then every touched key whose bucket
    /// (sequence - lo, shifted right so that there are at most one per 16 keys) is at or
    /// below the first bucket that makes k, bucket by bucket in order, each in its own order.
    /// Also the largest key queued (0 if none).
    static func bucketed(
        untouched: [UInt64], touched: [UInt64], lo: UInt32, hi: UInt32, _ k: Int
    )
        -> (keys: [UInt64], bounds: [Int], last: UInt64)
    {
        var out = Array(untouched.prefix(k))
        var bounds = [0]
        if !out.isEmpty { bounds.append(out.count) }
        let need = k - out.count
        guard need > 0, !touched.isEmpty else { return (out, bounds, out.last ?? 0) }
        var shift: UInt32 = 0
        let span = UInt64(hi - lo)
        let most = UInt64(max(1, touched.count / 16))
        while span >> UInt64(shift) >= most { shift += 1 }
        let buckets = Int(span >> UInt64(shift)) + 1
        var count = [Int](repeating: 0, count: buckets + 1)
        for key in touched { count[Int((UInt32(truncatingIfNeeded: key >> 32) - lo) >> shift)] += 1 }
        var taken = 0, cut = 0
        while taken < need {
            taken += count[cut]
            cut += 1
        }
        // Buckets 0..<cut go in; count becomes each one's start in `out`.
        let base = out.count
        var start = base
        for b in 0..<cut {
            let c = count[b]
            count[b] = start
            if c > 0 { bounds.append(start + c) }
            start += c
        }
        out.append(contentsOf: repeatElement(0, count: taken))
        var last: UInt64 = 0
        out.withUnsafeMutableBufferPointer { o in
            for key in touched {
                let b = Int((UInt32(truncatingIfNeeded: key >> 32) - lo) >> shift)
                if b < cut {
                    o[count[b]] = key
                    count[b] += 1
                    last = max(last, key)
                }
            }
        }
        return (out, bounds, last)
    }

    /// Sorts bucket b's current keys to the front of its range and records where they end; its
    /// stale keys (pages touched since the refill) are dropped, never read again.
    private func sortBucket(_ b: Int) {
        let start = queueBounds[b], end = queueBounds[b + 1]
        var w = start
        victimQueue.withUnsafeMutableBufferPointer { q in
            // The checks read the pages' sequence numbers (random accesses): this bucket's were
            // mostly loaded when the one before was sorted (asking again costs little); start
            // loading the next one's now, a bucket's worth of victims before they are needed.
            prefetchSeq(q, start, end)
            if b + 2 < queueBounds.count { prefetchSeq(q, end, min(queueBounds[b + 2], end + VMState.bucketPrefetch)) }
            for j in start..<end {
                let key = q[j]
                if current(key) {
                    // A victim to be: its word is what the balloon reads first.
                    tt_prefetch_write(word + Int(truncatingIfNeeded: key & 0xFFFF_FFFF))
                    q[w] = key
                    w += 1
                }
            }
            if w - start <= 32 {
                VMState.insertionSort(q, start, w)
            } else {
                var live = Array(q[start..<w])
                VMState.radixSort(&live)
                for (o, key) in live.enumerated() { q[start + o] = key }
            }
        }
        queueLive[b] = w
    }

    /// Keys of the next bucket whose sequence numbers `sortBucket` starts loading, at most.
    static let bucketPrefetch = 128

    private func prefetchSeq(_ q: UnsafeMutableBufferPointer<UInt64>, _ from: Int, _ to: Int) {
        for j in from..<to { tt_prefetch_write(seq + Int(truncatingIfNeeded: q[j] & 0xFFFF_FFFF)) }
    }

    /// Moves position `i` of the queue (in bucket `b`) to the next sorted key at or after it,
    /// sorting buckets as it reaches them; to the queue's end if there is none.
    @inline(__always)
    private func settle(_ i: inout Int, _ b: inout Int) {
        while b < queueLive.count {
            if queueLive[b] < 0 { sortBucket(b) }
            if i < queueLive[b] { return }
            b += 1
            i = queueBounds[b]
        }
    }

    /// Sorts `a[lo..<hi]` ascending.
    static func insertionSort(_ a: UnsafeMutableBufferPointer<UInt64>, _ lo: Int, _ hi: Int) {
        guard hi - lo > 1 else { return }
        for i in (lo + 1)..<hi {
            let x = a[i]
            var j = i
            while j > lo && a[j - 1] > x {
                a[j] = a[j - 1]
                j -= 1
            }
            a[j] = x
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
            settle(&victimHead, &headBucket)
            while victimHead < victimQueue.count && !current(victimQueue[victimHead]) {
                victimHead += 1
                settle(&victimHead, &headBucket)
            }
            while let top = tailStack.last, !current(top) { tailStack.removeLast() }
            // Merge the queue and the tail stack in key order.
            var i = victimHead, b = headBucket
            var j = tailStack.count - 1
            while i < victimQueue.count || j >= 0 {
                let item: UInt64
                if j >= 0 && (i >= victimQueue.count || tailStack[j] < victimQueue[i]) {
                    item = tailStack[j]
                    j -= 1
                } else {
                    item = victimQueue[i]
                    i += 1
                    settle(&i, &b)
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
        if headBucket < queueLive.count {
            let end = min(victimHead + 1 + VMState.victimPrefetch, queueLive[headBucket])
            if victimHead + 1 < end {
                for k in (victimHead + 1)..<end {
                    let p = Int(truncatingIfNeeded: victimQueue[k] & 0xFFFF_FFFF)
                    tt_prefetch_write(seq + p)
                    tt_prefetch_write(word + p)
                }
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
        lruReset()
    }

    /// Empties the queue and the tail stack (the next walk rescans).
    func lruReset() {
        victimQueue.removeAll()
        queueBounds = [0]
        queueLive.removeAll()
        queueLast = 0
        victimHead = 0
        headBucket = 0
        tailStack.removeAll()
    }
}
