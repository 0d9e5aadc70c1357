/// The guest's least recently used private page (GuestLRU.swift keeps that order exact).
final class LRUVictim: SwapVictimChooser {
    static let registration = SwapVictimRegistration(
        implementation: Implementation(
            name: SwapVictimName.lru.rawValue,
            summary: "least recently used private page, by the guest's exact LRU order"),
        usesGuestLRU: true,
        make: { _, _, _ in LRUVictim() })

    func choose(_ vm: VMState) -> UInt32? {
        var found: UInt32?
        vm.lruWalk { p in
            if vm.isPrivate(p) { found = p; return false }
            return true
        }
        return found ?? vm.firstPrivate()
    }
}

extension ImplementationName where Family == SwapVictims {
    public static let lru: SwapVictimName = "lru"
}
