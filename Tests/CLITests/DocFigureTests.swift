import Foundation
import Testing
import TraceFormat

/// The figures README.md and traces/README.md quote from a command are rerun here: every
/// ```` ```console ```` block is a list of `$ tracetool …` commands, each followed by lines of
/// its output. The command must exit 0 and the shown lines must appear in its output as shown
/// (a line `…` separates runs that are not adjacent; trailing blanks are ignored). Commands run
/// in a scratch folder where `traces/` is the bundled traces, so files they write stay there.
/// The paragraph just before a block may quote its figures: every decimal number in it (such
/// as 285.2 or 47.7%) must appear in the block's shown output, so prose cannot drift either.
@Suite("Documentation figures are rerun")
struct DocFigureTests {
    struct Block: Sendable {
        var prose: String
        var commands: [Command]
    }

    struct Command: CustomStringConvertible, Sendable {
        var file: String
        var line: Int
        var args: [String]
        /// Runs of expected lines, in order.
        var expected: [[String]]
        var description: String { "\(file):\(line) tracetool \(args.joined(separator: " "))" }
    }

    /// Splits a command line like a shell would for plain words and double-quoted strings.
    static func words(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false, any = false
        for ch in s {
            if ch == "\"" { quoted.toggle(); any = true; continue }
            if ch == " " && !quoted {
                if any || !cur.isEmpty { out.append(cur) }
                cur = ""; any = false
                continue
            }
            cur.append(ch)
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }

    static func blocks(in file: String) -> [Block] {
        let path = CLI.packageRoot + "/" + file
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        let lines = text.components(separatedBy: "\n")
        var blocks: [Block] = []
        var i = 0
        while i < lines.count {
            guard lines[i].trimmingCharacters(in: .whitespaces) == "```console" else { i += 1; continue }
            // The paragraph before the block (after at most one blank line).
            var j = i - 1
            if j >= 0 && lines[j].trimmingCharacters(in: .whitespaces).isEmpty { j -= 1 }
            var prose: [String] = []
            while j >= 0 && !lines[j].trimmingCharacters(in: .whitespaces).isEmpty && !lines[j].hasPrefix("```") {
                prose.insert(lines[j], at: 0)
                j -= 1
            }
            var cmds: [Command] = []
            i += 1
            while i < lines.count && lines[i].trimmingCharacters(in: .whitespaces) != "```" {
                let l = lines[i]
                if l.hasPrefix("$ tracetool ") {
                    cmds.append(
                        Command(
                            file: file, line: i + 1, args: words(String(l.dropFirst("$ tracetool ".count))),
                            expected: [[]]))
                } else if !cmds.isEmpty {
                    let t = l.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
                    if t == "…" {
                        cmds[cmds.count - 1].expected.append([])
                    } else {
                        cmds[cmds.count - 1].expected[cmds[cmds.count - 1].expected.count - 1].append(t)
                    }
                }
                i += 1
            }
            blocks.append(
                Block(
                    prose: prose.joined(separator: " "),
                    commands: cmds.map {
                        var c = $0; c.expected.removeAll { $0.isEmpty }; return c
                    }))
            i += 1
        }
        return blocks
    }

    static let all: [Block] = ["README.md", "docs/GUIDE.md", "docs/FLEET.md", "traces/README.md"].flatMap { blocks(in: $0) }

    @Test(
        "The READMEs and the guide quote their command output in console blocks; the decimals of the prose before a block are in it"
    )
    func present() {
        #expect(DocFigureTests.all.count >= 5)
        #expect(DocFigureTests.all.allSatisfy { !$0.commands.isEmpty })
        for b in DocFigureTests.all {
            let shown = b.commands.flatMap { [$0.args.joined(separator: " ")] + $0.expected.flatMap { $0 } }.joined(
                separator: "\n")
            let re = try! NSRegularExpression(pattern: "[0-9]+\\.[0-9]+")
            let ns = b.prose as NSString
            for m in re.matches(in: b.prose, range: NSRange(location: 0, length: ns.length)) {
                let number = ns.substring(with: m.range)
                #expect(
                    shown.range(
                        of: "(^|[^0-9.])" + NSRegularExpression.escapedPattern(for: number) + "([^0-9]|$)",
                        options: .regularExpression) != nil,
                    "\(b.commands.first!.file): \(number) in the text before the block at line \(b.commands.first!.line) is not in its output"
                )
            }
        }
    }

    @Test("Every console block's commands give the output shown", arguments: DocFigureTests.all.indices)
    func block(_ index: Int) throws {
        let s = Scratch()
        try FileManager.default.createSymbolicLink(
            atPath: s.file("traces"), withDestinationPath: CLI.packageRoot + "/traces")
        for c in DocFigureTests.all[index].commands {
            let r = try CLI.run(c.args, in: s.path)
            #expect(r.status == 0, "\(c): \(r.stderr)")
            let out = r.stdout.components(separatedBy: "\n").map {
                $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
            }
            var from = 0
            for run in c.expected {
                var found: Int?
                var k = from
                while k + run.count <= out.count {
                    if Array(out[k..<(k + run.count)]) == run { found = k; break }
                    k += 1
                }
                #expect(
                    found != nil,
                    "\(c): these lines are not in its output (in order):\n\(run.joined(separator: "\n"))\n--- output:\n\(r.stdout)"
                )
                guard let f = found else { break }
                from = f + run.count
            }
        }
    }

    @Test("traces/README.md's file table gives each bundled trace's size and record count")
    func traceTable() throws {
        let readme = try String(contentsOfFile: CLI.packageRoot + "/traces/README.md", encoding: .utf8)
        var rows = 0
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[1].hasSuffix(" MiB") else { continue }
            let name = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let path = CLI.packageRoot + "/traces/" + name
            let bytes = try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64
            #expect(String(format: "%.2f MiB", Double(bytes) / 1_048_576) == cells[1], "\(name): \(bytes) bytes")
            var records: UInt64 = 0
            let reader = try TraceFile.open(path)
            var batch: [TraceRecord] = []
            while try reader.next(into: &batch) { records += UInt64(batch.count) }
            #expect(cells[2].replacingOccurrences(of: ",", with: "") == String(records), "\(name): \(records) records")
            rows += 1
        }
        // Every bundled trace has its row.
        let bundled = try FileManager.default.contentsOfDirectory(atPath: CLI.packageRoot + "/traces").filter {
            $0.contains(".mtr")
        }
        #expect(rows == bundled.count, "\(rows) rows for \(bundled.count) traces")
    }
}
