import Foundation
import Testing
import TraceFormat
#if canImport(Glibc)
import Glibc
#endif

/// Outputs never replace what is not a regular file, never an input, and leave no temporary
/// files of dead processes behind.
@Suite("Outputs: regular files only, never an input")
struct OutputSafetyTests {
    @Test(
        "FIFOs, symbolic links, an input (by any spelling or a hard link) and one file named twice are refused before any work"
    )
    func refusals() throws {
        let s = Scratch()
        let trace = s.file("t.mtr.zst")
        try FileManager.default.copyItem(atPath: CLI.packageRoot + "/traces/sample.mtr.zst", toPath: trace)
        let before = try Data(contentsOf: URL(fileURLWithPath: trace))
        #expect(mkfifo(s.file("fifo"), 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: s.file("link"), withDestinationPath: trace)
        try FileManager.default.linkItem(atPath: trace, toPath: s.file("hard.mtr.zst"))
        let cases: [([String], String)] = [
            (["replay", trace, "-o", trace], "an input of this command"),
            (["replay", trace, "-o", s.path + "/./t.mtr.zst"], "an input of this command"),
            (["stats", trace, "-o", s.file("hard.mtr.zst")], "an input of this command"),
            (
                ["convert", trace, s.path + "/../" + URL(fileURLWithPath: s.path).lastPathComponent + "/t.mtr.zst"],
                "an input of this command"
            ),
            (["replay", trace, "-o", s.file("fifo")], "a FIFO"),
            (["replay", trace, "--timeline", s.file("link")], "a symbolic link"),
            (["gen", "mix", s.file("link"), "--records", "10"], "a symbolic link"),
            (["compare", trace, "--html", s.path], "a directory"),
            (
                ["replay", trace, "-o", s.file("a.txt"), "--html", s.path + "/./a.txt"],
                "the same file is given as two outputs"
            ),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(
                r.status == CLI.usage && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                "\(args): \(r.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: trace)) == before)
        var st = stat()
        #expect(lstat(s.file("fifo"), &st) == 0 && st.st_mode & S_IFMT == S_IFIFO)
        #expect(lstat(s.file("link"), &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)
        #expect(!FileManager.default.fileExists(atPath: s.file("a.txt")))
        // "-o -" is stdout.
        let dash = try CLI.run(["stats", trace, "-o", "-"])
        #expect(dash.status == 0 && dash.stdout.contains("oracle sharing bound"))
        // "-" is refused by every command that writes a trace file, before any work (gen writes
        // one to stdout for a pipe: StdinTests).
        for args in [
            ["convert", trace, "-"], ["merge", trace, trace, "-o", "-"], ["capture", "--vm", "sort", "-o", "-"],
            ["gen", "fleet", "-", "--template", trace],
        ] {
            let r = try CLI.run(args)
            #expect(
                r.status == CLI.usage && r.stderr.contains("not stdout") && r.stderr.split(separator: "\n").count == 1,
                "\(args): \(r.stderr)")
        }
        // One-character names in the working folder (Foundation's deletingLastPathComponent
        // traps on them; the folder of "a" is the working folder).
        let one = try CLI.run(["convert", trace, "a"], in: s.path)
        #expect(one.status == 0, "\(one.stderr)")
        #expect(FileManager.default.fileExists(atPath: s.file("a")))
        let stats = try CLI.run(["stats", trace, "-o", "b"], in: s.path)
        #expect(stats.status == 0 && FileManager.default.fileExists(atPath: s.file("b")), "\(stats.stderr)")
    }

    @Test(
        "Temporary files of dead processes of this host are removed on the next write to their folder; another host's and others are kept"
    )
    func staleTemporaries() throws {
        let s = Scratch()
        // A PID above the kernel's maximum (4,194,304) belongs to no process.
        let host = OutputPath.hostTag
        let stale = s.file(".report.txt.tmp-99999999-\(host)abc123"),
            live = s.file(".report.txt.tmp-\(getpid())-\(host)zz9")
        // The same dead PID written by another host (a cluster node sharing the folder): kept.
        let elsewhere = s.file(".report.txt.tmp-99999999-\(host == "ffffffff" ? "eeeeeeee" : "ffffffff")abc123")
        let other = s.file(".notes.tmp-1-x-y")
        for f in [stale, live, elsewhere, other] {
            #expect(FileManager.default.createFile(atPath: f, contents: Data("x".utf8)))
        }
        let r = try CLI.run(["stats", CLI.packageRoot + "/traces/sample.mtr.zst", "-o", s.file("report.txt")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live) && FileManager.default.fileExists(atPath: other))
        #expect(FileManager.default.fileExists(atPath: elsewhere))
        let left = try FileManager.default.contentsOfDirectory(atPath: s.path).filter { $0.contains(".tmp-") }.sorted()
        #expect(left.count == 3)
    }
}

/// Every input a fuzz target once failed on (Fuzz/findings/TARGET/) is replayed through that
/// target, built plainly: it must be handled without a crash.
@Suite("Fuzz findings stay fixed")
struct FuzzFindingTests {
    @Test("Each recorded finding replays cleanly through its fuzz target")
    func findings() throws {
        let root = CLI.packageRoot + "/Fuzz/findings"
        let targets = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        var replayed = 0
        for t in targets.sorted() {
            let binary = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().appendingPathComponent(t).path
            for f in try FileManager.default.contentsOfDirectory(atPath: root + "/" + t).sorted() {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: binary)
                p.arguments = [root + "/" + t + "/" + f]
                p.standardOutput = Pipe()
                p.standardError = Pipe()
                try p.run()
                p.waitUntilExit()
                #expect(p.terminationStatus == 0, "\(t) \(f): status \(p.terminationStatus)")
                replayed += 1
            }
        }
        #expect(replayed >= 1)
    }
}
