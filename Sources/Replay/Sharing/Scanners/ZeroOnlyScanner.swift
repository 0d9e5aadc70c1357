import TraceFormat

/// ESX's random scan, sharing only pages whose content is all zeros.
struct ZeroOnlyScanner: SharingScanner {
    static let registration = SharingScannerRegistration(
        implementation: Implementation(
            name: SharingName.zeroOnly.rawValue, summary: "ESX's random scan, sharing zero pages only"),
        make: { _ in ZeroOnlyScanner() })

    private let order = RandomScanner()
    func beginSweep(_ vm: VMState, sweep: UInt64, seed: UInt64) { order.beginSweep(vm, sweep: sweep, seed: seed) }
    func page(_ vm: VMState, at position: UInt64) -> UInt32 { order.page(vm, at: position) }
    func mayShare(hash: UInt64) -> Bool { hash == ContentHash.zero.rawValue }
}

extension ImplementationName where Family == SharingScanners {
    public static let zeroOnly: SharingName = "zero-only"
}
