/// Second chance (CLOCK): a hand sweeps the VM's PPNs in order; a private page touched since
/// the hand last passed it gets a second chance (its reference is cleared and the hand moves
/// on), an untouched one is the victim. The reference bit is read from the guest-LRU stamp:
/// a page is referenced if its LRU sequence number changed since the hand saw it (a rare
/// renumbering of the LRU order counts as a reference, which only delays a victim).
final class ClockVictim: SwapVictimChooser {
    static let registration = SwapVictimRegistration(
        implementation: Implementation(
            name: SwapVictimName.clock.rawValue,
            summary: "second chance: a clock hand skips pages touched since its last pass"),
        usesGuestLRU: true,
        make: { vm, _, _ in ClockVictim(pages: vm.maxPages) })

    /// The LRU sequence each page carried when the hand last passed it.
    private let seen: UnsafeMutablePointer<UInt32>
    @exclusivity(unchecked) private var hand = 0

    init(pages: UInt64) {
        seen = VMState.zeroed(UInt32.self, pages)
    }

    deinit { VMState.release(seen) }

    func choose(_ vm: VMState) -> UInt32? {
        let n = vm.pageCount
        // Two full turns at most: the first clears every reference it meets.
        for _ in 0..<(2 * n) {
            let p = hand
            hand = hand + 1 == n ? 0 : hand + 1
            guard vm.isPrivate(UInt32(p)) else { continue }
            let s = vm.seq[p]
            if s != seen[p] {
                seen[p] = s
                continue
            }
            return UInt32(p)
        }
        return vm.firstPrivate()
    }

    func reset() { hand = 0 }
}

extension ImplementationName where Family == SwapVictims {
    public static let clock: SwapVictimName = "clock"
}
