/// Content-based sharing off: no scan, no share-before-swap.
struct NoScanner: SharingScanner {
    static let registration = SharingScannerRegistration(
        implementation: Implementation(name: SharingName.off.rawValue, summary: "no content-based sharing"),
        make: { _ in NoScanner() })

    var offersPages: Bool { false }
    func beginSweep(_ vm: VMState, sweep: UInt64, seed: UInt64) {}
    func page(_ vm: VMState, at position: UInt64) -> UInt32 { UInt32(position) }
    func mayShare(hash: UInt64) -> Bool { false }
}

extension ImplementationName where Family == SharingScanners {
    public static let off: SharingName = "off"
}
