/// Numbers that index different spaces, as distinct types so one cannot be passed for another
/// (each is one `UInt32`, free at run time; machine pages and swap slots are counted, not
/// numbered: docs/MODEL.md "pmap"). A guest page number (PPN) stays a plain `UInt32`
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

/// The sharing table's frames, shared or hint (docs/PAPER.md §4).
enum SharingFrames: NumberSpace { static let label = "frame" }

/// An index into the sharing table's frames.
typealias FrameIndex = Numbered<SharingFrames>
