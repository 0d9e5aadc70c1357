/// Linux KSM's model (docs/MODEL.md "KSM"): every page in PPN order, and a private page is
/// offered only if its content is unchanged since the scanner's previous visit (the checksum
/// test); a page seen for the first time, or written since, is marked stable and skipped.
struct OrderedScanner: SharingScanner {
    static let registration = SharingScannerRegistration(
        implementation: Implementation(
            name: SharingName.ksm.rawValue,
            summary: "KSM-style: pages in order, merged only when their checksum is unchanged since the last visit"),
        make: { _ in OrderedScanner() })

    func beginSweep(_ vm: VMState, sweep: UInt64, seed: UInt64) {}

    func page(_ vm: VMState, at position: UInt64) -> UInt32 { UInt32(position) }

    func admit(_ vm: VMState, ppn: UInt32) -> ScanAdmission {
        let i = Int(ppn)
        let f = vm.flags[i]
        guard PageState.of(vm.entry[i]) == .privateMPN && f & PageFlag.scanStable == 0 else { return .offer }
        if f & PageFlag.known != 0 {
            vm.flags[i] = f | PageFlag.scanStable
            return .skip(marked: true)
        }
        return .skip(marked: false)
    }
}

extension ImplementationName where Family == SharingScanners {
    public static let ksm: SharingName = "ksm"
}
