import TraceFormat

/// ESX's scan (docs/PAPER.md §3.2): each sweep visits every PPN of the VM once, in a fresh
/// pseudo-random order drawn from the sweep's own stream (seed, VM, sweep).
struct RandomScanner: SharingScanner {
    static let registration = SharingScannerRegistration(
        implementation: Implementation(
            name: SharingName.on.rawValue, summary: "ESX's scan: every page once per sweep, in a random order"),
        make: { _ in RandomScanner() })

    func beginSweep(_ vm: VMState, sweep: UInt64, seed: UInt64) {
        var rng = SeededRandom.stream(seed: seed, vm: vm.config.id, .shareScan, sweep)
        vm.scanPermutation = Permutation(n: UInt64(vm.pageCount), rng: &rng)
    }

    func page(_ vm: VMState, at position: UInt64) -> UInt32 { UInt32(vm.scanPermutation(position)) }
}

extension ImplementationName where Family == SharingScanners {
    /// ESX's random scan.
    public static let on: SharingName = "on"
}
