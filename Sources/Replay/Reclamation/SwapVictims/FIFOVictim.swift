/// The private page resident longest: pages queue in the order they became resident; an entry
/// is stale once its page left and came back (its residency sequence changed).
final class FIFOVictim: SwapVictimChooser {
    static let registration = SwapVictimRegistration(
        implementation: Implementation(
            name: SwapVictimName.fifo.rawValue, summary: "the private page resident longest"),
        usesGuestLRU: false,
        make: { vm, _, tracking in FIFOVictim(pages: tracking ? vm.maxPages : nil) })

    /// Residency sequence per page (nil when the host is not overcommitted).
    private let seq: UnsafeMutablePointer<UInt32>?
    /// (PPN << 32 | sequence), oldest first from `head`.
    @exclusivity(unchecked) private var queue: [UInt64] = []
    @exclusivity(unchecked) private var head = 0
    @exclusivity(unchecked) private var counter: UInt32 = 0

    init(pages: UInt64?) {
        seq = pages.map { VMState.zeroed(UInt32.self, $0) }
    }

    deinit { if let seq { VMState.release(seq) } }

    func pageBecameResident(_ ppn: UInt32) {
        guard let seq else { return }
        counter &+= 1
        seq[Int(ppn)] = counter
        queue.append(UInt64(ppn) << 32 | UInt64(counter))
    }

    func choose(_ vm: VMState) -> UInt32? {
        guard let seq else { return vm.firstPrivate() }
        while head < queue.count {
            let item = queue[head]
            head += 1
            let p = UInt32(item >> 32)
            if vm.isPrivate(p) && seq[Int(p)] == UInt32(truncatingIfNeeded: item) {
                compact()
                return p
            }
        }
        compact()
        return vm.firstPrivate()
    }

    func reset() {
        queue.removeAll()
        head = 0
    }

    private func compact() {
        if head > 4096 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }
}

extension ImplementationName where Family == SwapVictims {
    public static let fifo: SwapVictimName = "fifo"
}
