/// Numbers that index different spaces, as distinct types so one cannot be passed for another
/// (each is one `UInt32`, free at run time). A guest page number (PPN) stays a plain `UInt32`
/// inside the engine: it indexes a VM's page arrays everywhere.
struct Numbered<Space: NumberSpace>: Hashable, Comparable, CustomStringConvertible {
    var raw: UInt32
    init(_ raw: UInt32) { self.raw = raw }
    var index: Int { Int(raw) }
    static func < (a: Self, b: Self) -> Bool { a.raw < b.raw }
    var description: String { "\(Space.label) \(raw)" }
}

/// What a `Numbered` value numbers (its name in messages).
protocol NumberSpace { static var label: String { get } }

/// Host memory (docs/PAPER.md §2).
enum MachinePages: NumberSpace { static let label = "MPN" }
/// The sharing table's frames, shared or hint (docs/PAPER.md §4).
enum SharingFrames: NumberSpace { static let label = "frame" }
/// The host swap area (docs/PAPER.md §3.3).
enum SwapSlots: NumberSpace { static let label = "swap slot" }

/// A machine page number: one page of host memory.
typealias MPN = Numbered<MachinePages>
/// An index into the sharing table's frames.
typealias FrameIndex = Numbered<SharingFrames>
/// A slot of the host swap area.
typealias SwapSlot = Numbered<SwapSlots>
