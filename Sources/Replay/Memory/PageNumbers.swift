/// Numbers that index different spaces, as distinct types so one cannot be passed for another
/// (each is one `UInt32`, free at run time). A guest page number (PPN) stays a plain `UInt32`
/// inside the engine: it indexes a VM's page arrays everywhere.

/// A machine page number: one page of host memory (docs/PAPER.md §2).
struct MPN: Hashable, Comparable, CustomStringConvertible {
    var raw: UInt32
    init(_ raw: UInt32) { self.raw = raw }
    var index: Int { Int(raw) }
    static func < (a: MPN, b: MPN) -> Bool { a.raw < b.raw }
    var description: String { "MPN \(raw)" }
}

/// An index into the sharing table's frames, shared or hint (docs/PAPER.md §4).
struct FrameIndex: Hashable, Comparable, CustomStringConvertible {
    var raw: UInt32
    init(_ raw: UInt32) { self.raw = raw }
    var index: Int { Int(raw) }
    static func < (a: FrameIndex, b: FrameIndex) -> Bool { a.raw < b.raw }
    var description: String { "frame \(raw)" }
}

/// A slot of the host swap area (docs/PAPER.md §3.3).
struct SwapSlot: Hashable, Comparable, CustomStringConvertible {
    var raw: UInt32
    init(_ raw: UInt32) { self.raw = raw }
    var index: Int { Int(raw) }
    static func < (a: SwapSlot, b: SwapSlot) -> Bool { a.raw < b.raw }
    var description: String { "swap slot \(raw)" }
}
