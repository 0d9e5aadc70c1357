import TraceFormat

/// Randomized page replacement (docs/PAPER.md §3.3): uniform over the VM's PPNs until a private one
/// comes up; after 64 misses, a scan from a random start guarantees termination.
final class RandomVictim: SwapVictimChooser {
    static let registration = SwapVictimRegistration(
        implementation: Implementation(
            name: SwapVictimName.random.rawValue, summary: "uniformly random private page (the paper's choice)"),
        usesGuestLRU: false,
        make: { vm, policy, _ in RandomVictim(vm: vm.id, seed: policy.seed) })

    @exclusivity(unchecked) private var rng: SeededRandom

    init(vm id: UInt32, seed: UInt64) {
        rng = SeededRandom.stream(seed: seed, vm: id, .swapVictim)
    }

    func choose(_ vm: VMState) -> UInt32? {
        for _ in 0..<64 {
            let p = UInt32(rng.below(UInt64(vm.pageCount)))
            if vm.isPrivate(p) { return p }
        }
        let start = Int(rng.below(UInt64(vm.pageCount)))
        for k in 0..<vm.pageCount {
            let p = UInt32((start + k) % vm.pageCount)
            if vm.isPrivate(p) { return p }
        }
        return nil
    }
}

extension ImplementationName where Family == SwapVictims {
    public static let random: SwapVictimName = "random"
}
