import Foundation
import Testing
@testable import Replay

/// The code's structure as docs/ARCHITECTURE.md describes it.
@Suite("Structure: mechanisms as modules, the family table")
struct StructureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let replay = root + "/Sources/Replay"

    /// Every Swift file under Sources/Replay, as (path relative to it, text).
    static func sources() throws -> [(path: String, text: String)] {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: replay) else { throw CocoaError(.fileReadNoSuchFile) }
        var out: [(String, String)] = []
        for case let p as String in e where p.hasSuffix(".swift") {
            out.append((p, try String(contentsOfFile: replay + "/" + p, encoding: .utf8)))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// (folder under Mechanisms, what a mention of it looks like, case-insensitive).
    static let mechanisms = [
        ("Compression", "compress"),
        ("Damon", "damon"),
        ("LargePages", "large ?page|largeblock"),
        ("FreePageReporting", "free ?page ?report|freepagesreport|freereport"),
        ("Salting", "salt"),
    ]

    @Test(
        "Each later mechanism is mentioned (code, strings or comments) in at most 3 files of Sources/Replay outside its folder",
        arguments: mechanisms.map(\.0))
    func mentions(_ folder: String) throws {
        let pattern = try #require(StructureTests.mechanisms.first { $0.0 == folder }?.1)
        let re = try NSRegularExpression(pattern: pattern, options: .caseInsensitive)
        let outside = try StructureTests.sources().filter { f in
            !f.path.hasPrefix("Mechanisms/\(folder)/")
                && re.firstMatch(in: f.text, range: NSRange(f.text.startIndex..., in: f.text)) != nil
        }.map(\.path)
        #expect(FileManager.default.fileExists(atPath: StructureTests.replay + "/Mechanisms/\(folder)"))
        #expect(outside.count <= 3, "\(folder) is mentioned in \(outside)")
    }

    @Test("The engine core force-unwraps no mechanism state")
    func noForcedMechanismState() throws {
        let re = try NSRegularExpression(pattern: #"\b(tier|accessObserver|sharingGate|mechanism\w*)!"#)
        for f in try StructureTests.sources() where !f.path.hasPrefix("Mechanisms/") {
            let hits = re.numberOfMatches(in: f.text, range: NSRange(f.text.startIndex..., in: f.text))
            #expect(hits == 0, "\(f.path) force-unwraps mechanism state")
        }
    }

    @Test("docs/ARCHITECTURE.md's family table lists every registered implementation of every family")
    func familyTable() throws {
        let doc = try String(contentsOfFile: StructureTests.root + "/docs/ARCHITECTURE.md", encoding: .utf8)
        var rows: [String: [String]] = [:]
        for line in doc.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[0].hasPrefix("`"), cells[0].hasSuffix("`") else { continue }
            let knob = String(cells[0].dropFirst().dropLast())
            let names = cells[cells.count - 1].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            }
            rows[knob] = names
        }
        for family in PolicyFamilies.all {
            #expect(
                rows[family.knob] == family.implementations.map(\.name),
                "the row for \(family.knob) in docs/ARCHITECTURE.md")
        }
    }
}
