import Foundation
import Testing
import TraceFormat

/// `tracetool merge` (docs/FORMAT.md "Merging traces"): the halves `convert --vms` splits a trace
/// into merge back to the same records and the same replay; ids, names, offsets and the header's
/// map; what must agree; outputs as everywhere.
@Suite("merge")
struct MergeTests {
    static let traces = CLI.packageRoot + "/traces/"

    static func ok(_ args: [String]) throws -> CLI.Result {
        let r = try CLI.run(args)
        #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.stderr)")
        return r
    }

    /// The report without what names the file or the build.
    static func replayJSON(_ path: String) throws -> String {
        let r = try Self.ok(["replay", path, "--format", "json", "--overcommit", "1.5", "--quiet"])
        return CLI.unstamped(r.stdout).split(separator: "\n").filter { !$0.contains("\"trace\" :") }.joined(
            separator: "\n")
    }

    @Test(
        "Halves of a trace merge back: the same canonical text and the same replay (sample, and a capture whose records share interval times)",
        arguments: [("sample.mtr.zst", "0,1", "2,3"), ("capture-4vm.mtr.zst", "0,1", "2,3")])
    func halves(_ c: (String, String, String)) throws {
        let s = Scratch()
        let src = Self.traces + c.0
        _ = try Self.ok(["convert", src, s.file("a.mtr.zst"), "--vms", c.1])
        _ = try Self.ok(["convert", src, s.file("b.mtr.zst"), "--vms", c.2])
        let m = try Self.ok(["merge", s.file("a.mtr.zst"), s.file("b.mtr.zst"), "-o", s.file("m.mtr.zst")])
        #expect(m.stdout.contains("0 a.mtr.zst 0 -> 0 vm") || m.stdout.contains("0 a.mtr.zst 0 -> 0 "))
        _ = try Self.ok(["validate", s.file("m.mtr.zst")])
        _ = try Self.ok(["convert", src, s.file("orig.mtr.txt")])
        _ = try Self.ok(["convert", s.file("m.mtr.zst"), s.file("m.mtr.txt")])
        let a = try String(contentsOfFile: s.file("orig.mtr.txt"), encoding: .utf8)
        let b = try String(contentsOfFile: s.file("m.mtr.txt"), encoding: .utf8)
        #expect(a == b, "canonical text differs")
        #expect(try Self.replayJSON(src) == Self.replayJSON(s.file("m.mtr.zst")))
    }

    @Test("A trace merged with itself: ids 0…7, names made unique, the map in the header; --offset shifts the second")
    func selfMerge() throws {
        let s = Scratch()
        let src = Self.traces + "sample.mtr.zst"
        let r = try Self.ok(["merge", src, src, "-o", s.file("m.mtr.txt"), "--offset", "0", "--offset", "10s"])
        #expect(r.stdout.contains("1 sample.mtr.zst 3 -> 7 vm3-2"), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("\(s.file("m.mtr.txt")): 400000 records, 8 VMs from 2 traces\n"))
        let text = try String(contentsOfFile: s.file("m.mtr.txt"), encoding: .utf8)
        #expect(text.contains("vm,4,vm0-2,4096\n") && text.contains("vm,7,vm3-2,4096\n"))
        // The second copy starts 10 s in: its first record is the first of the trace + 10 s.
        let orig = try Self.ok(["convert", src, s.file("o.mtr.txt")])
        _ = orig
        let lines = try String(contentsOfFile: s.file("o.mtr.txt"), encoding: .utf8).split(separator: "\n")
        let first = lines.first { $0.first?.isNumber == true }!.split(separator: ",").map(String.init)
        let shifted = "\(UInt64(first[0])! + 10_000_000),\(UInt32(first[1])! + 4)," + first[2...].joined(separator: ",")
        #expect(text.contains("\n" + shifted + "\n"), "\(shifted)")
        // The binary header keeps the map and each input's facts.
        _ = try Self.ok(["merge", src, src, "-o", s.file("m.mtr.zst"), "--quiet"])
        let info = try Self.ok(["info", s.file("m.mtr.zst"), "--format", "json"])
        let doc = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as! [String: Any]
        let capture = (doc["header"] as! [String: Any])["capture"] as! [String: Any]
        let details = capture["details"] as! [String: String]
        #expect(capture["source"] as? String == "merge")
        #expect(details["input.1.vm.2"] == "6" && details["input.0.file"] == "sample.mtr.zst")
        #expect(details["input.1.details.scenario"] == "mix" && details["inputs"] == "2")
    }

    @Test("What must agree, and bad options: one line each")
    func refusals() throws {
        let s = Scratch()
        let sample = Self.traces + "sample.mtr.zst"
        try Data("vm,0,big,16,8192\n0,0,R,0\n".utf8).write(to: URL(fileURLWithPath: s.file("p8k.mtr.txt")))
        try Data("hash,other-64\nvm,0,x,16\n0,0,C,0,00000000000000ff\n".utf8).write(
            to: URL(fileURLWithPath: s.file("h.mtr.txt")))
        try Data("hash,xxh3-64\nvm,0,x,16\n0,0,R,0\n".utf8).write(to: URL(fileURLWithPath: s.file("x.mtr.txt")))
        try Data("hash,xxh3-64\nvm,0,a,16\n0,0,R,5\n18446744073709551615,0,R,5\n".utf8).write(
            to: URL(fileURLWithPath: s.file("far.mtr.txt")))
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: s.file("bad.mtr.txt")))
        let cases: [([String], Int32, String)] = [
            ([sample, s.file("p8k.mtr.txt")], CLI.failure, "a host has one page size"),
            ([sample, s.file("h.mtr.txt")], CLI.failure, "digests of different hashes cannot be compared"),
            (
                [Self.traces + "capture-4vm.mtr.zst", s.file("x.mtr.txt")], CLI.failure,
                "the model reads active memory by it"
            ),
            ([sample, s.file("bad.mtr.txt")], CLI.failure, "bad.mtr.txt"),
            (
                [s.file("far.mtr.txt"), s.file("far.mtr.txt"), "--offset", "0", "--offset", "1us"], CLI.failure,
                "far.mtr.txt: record 1: time overflows 64 bits"
            ),
            ([sample], CLI.usage, "at least two input traces"),
            ([sample, sample, "--offset", "1s"], CLI.usage, "give one per input (2)"),
            ([sample, sample, "--offset", "1s", "--offset", "5"], CLI.usage, "--offset 5"),
        ]
        for (args, status, words) in cases {
            let r = try CLI.run(["merge"] + args + ["-o", s.file("out.mtr.zst")])
            #expect(r.status == status, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(words) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: s.file("out.mtr.zst")))
        }
        // The output may not be an input.
        try FileManager.default.copyItem(atPath: sample, toPath: s.file("in.mtr.zst"))
        let r = try CLI.run(["merge", s.file("in.mtr.zst"), sample, "-o", s.file("in.mtr.zst")])
        #expect(r.status != 0 && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: s.file("in.mtr.zst")))
                == Data(contentsOf: URL(fileURLWithPath: sample)))
    }
}
