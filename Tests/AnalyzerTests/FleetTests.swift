import Foundation
import Replay
import Testing
import TraceFormat

@testable import Analyzer

/// Fingerprints and placement against hand-computed cases (docs/FLEET.md).
@Suite("Fleet: fingerprints and placement")
struct FleetTests {
    static func tempFile(_ name: String, _ text: String) throws -> String {
        let dir = NSTemporaryDirectory() + "tracetool-fleet-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = dir + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// VM 0: page 0 read (a demand-zero fill: known zero), page 1 written (unknown), pages 2
    /// and 3 content A, page 4 content B, page 5 zero, page 6 content C then written (unknown),
    /// page 7 untouched. VM 1: page 0 content A, page 1 content D.
    static let hand = """
        hash,xxh3-64
        vm,0,a,8
        vm,1,b,4
        0,0,R,0
        0,0,W,1
        0,0,C,2,00000000000000aa
        0,0,C,3,00000000000000aa
        0,0,C,4,00000000000000bb
        0,0,Z,5
        1,0,C,6,00000000000000cc
        2,0,W,6
        2,1,C,0,00000000000000aa
        2,1,C,1,00000000000000dd

        """

    @Test("A hand-made trace: pages by class, distinct contents, the group's and each VM's savings")
    func handFingerprint() throws {
        let path = try Self.tempFile("hand.mtr.txt", Self.hand)
        let f = try Fingerprints.make(path: path)
        #expect(f.count == 2)
        // VM 0: content pages 2, 3, 4 (A, A, B); zero 0 and 5; unknown 1 and 6.
        #expect((f[0].contentPages, f[0].zeroPages, f[0].unknownPages, f[0].distinct) == (3, 2, 2, 2))
        #expect((f[1].contentPages, f[1].zeroPages, f[1].unknownPages, f[1].distinct) == (2, 0, 0, 2))
        #expect(f[0].heldPages == 7 && f[0].atMicros == 2 && f[0].isExact)
        #expect(f[0].sketch == [ContentSketch.mix(0xAA), ContentSketch.mix(0xBB)].sorted())
        // Alone: VM 0 needs 2 unknown + 2 distinct + 1 zero frame = 5 of its 7: saves 2 (A's
        // second copy, the second zero page); VM 1 saves nothing.
        let k = ContentSketch.defaultK
        #expect(
            Fingerprints.estimate(f, members: [0], k: k) == GroupEstimate(heldPages: 7, footprintPages: 5, exact: true))
        #expect(Fingerprints.estimate(f, members: [1], k: k).savedPages == 0)
        // Together: 2 unknown + {A, B, D} + 1 zero frame = 6 of 9: saves 3, one more than alone.
        let both = Fingerprints.estimate(f, members: [0, 1], k: k)
        #expect(both == GroupEstimate(heldPages: 9, footprintPages: 6, exact: true))
        let r = FingerprintReport(FingerprintFile(k: k, vms: f, hashes: ["xxh3-64", "xxh3-64"]), pairs: 5)
        #expect(r.pairs == [FingerprintReport.Pair(a: 0, b: 1, gainPages: 1)])
        // At 1 s, page 6 still holds C and VM 1 has nothing yet.
        let early = try Fingerprints.make(path: path, at: Micros(1))
        #expect(early[0].contentPages == 4 && early[0].unknownPages == 1 && early[0].distinct == 3)
        #expect(early[1].heldPages == 0)
    }

    @Test("The model agrees: a full scan of the hand-made trace saves the pages the fingerprints say")
    func handReplay() throws {
        let path = try Self.tempFile("hand.mtr.txt", Self.hand)
        var p = Policy()
        p.shareScanVM = 1000
        p.shareScanTotal = 1000
        var run = PolicyRun(name: "esx", policy: p, spec: HostSpec())
        run.checkFullEveryStep = true
        var runner = ReplayRunner(path: path, runs: [run])
        runner.settle = Micros(10_000_000)
        let report = try runner.run()[0].report
        #expect(report.sharing.savedPages == 3)
    }

    @Test(
        "Bottom-k sketches: exact below k; a union's sketch is the merged sketches cut to k; the estimate within 4 standard errors"
    )
    func sketch() {
        let a: [UInt64] = [1, 5, 9], b: [UInt64] = [2, 5, 10, 11]
        #expect(ContentSketch.union(a, b, k: 10) == [1, 2, 5, 9, 10, 11])
        #expect(ContentSketch.union(a, b, k: 3) == [1, 2, 5])
        #expect(ContentSketch.estimate([1, 2, 3], k: 4, exact: false) == 3)
        // 200,000 distinct values: k = 1024 gives a relative standard error of 1/sqrt(1022).
        let k = 1024
        var all = (0..<200_000).map { ContentSketch.mix(UInt64($0)) }
        all.sort()
        let e = ContentSketch.estimate(Array(all.prefix(k)), k: k, exact: false)
        #expect(abs(e - 200_000) <= 4 * 200_000 / Double(k - 2).squareRoot())
        // Two halves overlapping by a quarter: the union's estimate from the two sketches.
        let x = (0..<100_000).map { ContentSketch.mix(UInt64($0)) }.sorted()
        let y = (75_000..<175_000).map { ContentSketch.mix(UInt64($0)) }.sorted()
        let u = ContentSketch.union(Array(x.prefix(k)), Array(y.prefix(k)), k: k)
        #expect(u == Array(ContentSketch.union(x, y, k: 1 << 20).prefix(k)))
        let eu = ContentSketch.estimate(u, k: k, exact: false)
        #expect(abs(eu - 175_000) <= 4 * 175_000 / Double(k - 2).squareRoot())
    }

    /// A VM of `pages` content pages drawn from `set` (distinct digests `set * 1000 + i`).
    static func vm(_ name: String, set: Int, pages: Int, k: Int = 128) -> VMFingerprint {
        let mixed = (0..<pages).map { ContentSketch.mix(UInt64(set * 1000 + $0 + 1)) }.sorted()
        return VMFingerprint(
            name: name, trace: name, vm: 0, atMicros: 0, pageSize: 4096, pages: UInt64(pages),
            contentPages: UInt64(pages),
            zeroPages: 0, unknownPages: 0, distinct: UInt64(pages), sketch: Array(mixed.prefix(k)))
    }

    @Test("Placement: first-fit decreasing pairs unlike VMs; sharing-aware puts twins together and needs one host")
    func placement() {
        // A1, B1, A2, B2: 40 pages each, A2 a twin of A1 and B2 of B1. A host has room for 130.
        let vms = [
            Self.vm("A1", set: 1, pages: 40), Self.vm("B1", set: 2, pages: 40), Self.vm("A2", set: 1, pages: 40),
            Self.vm("B2", set: 2, pages: 40),
        ]
        let c = Placement.Capacity(hostPages: 130, reservePages: 0, overheadPages: 0, hosts: nil)
        // By held pages (all 40, so in index order): A1, B1, A2 fill 120; B2 opens a host.
        let ffd = Placement.firstFitDecreasing(vms, k: 128, capacity: c)
        #expect(ffd.hosts.map(\.vms) == [[0, 1, 2], [3]])
        #expect(ffd.hosts.map(\.footprintPages) == [80, 40])
        // Each joins where it adds least, if all it holds fits unshared beside the host's
        // footprint: A1; B1 (40 + 40 ≤ 130, adds 40); A2 (80 + 40 ≤ 130, adds 0); B2 (same).
        let aware = Placement.sharingAware(vms, k: 128, capacity: c)
        #expect(aware.hosts.map(\.vms) == [[0, 1, 2, 3]])
        #expect(aware.footprintPages == 80 && aware.heldPages == 160)
        // Room for 100 less 5 kept free and 10 a VM: 85 for one VM, 75 for two. No two VMs of
        // 40 fit before sharing, twins included: four hosts either way.
        let tight = Placement.Capacity(hostPages: 100, reservePages: 5, overheadPages: 10, hosts: nil)
        #expect(Placement.firstFitDecreasing(vms, k: 128, capacity: tight).hosts.count == 4)
        #expect(Placement.sharingAware(vms, k: 128, capacity: tight).hosts.count == 4)
        // Two hosts for four VMs that need a host each: every host overfull, and said so.
        let fixed = Placement.Capacity(hostPages: 100, reservePages: 5, overheadPages: 10, hosts: 2)
        let f2 = Placement.firstFitDecreasing(vms, k: 128, capacity: fixed)
        #expect(f2.hosts.count == 2 && f2.hosts.allSatisfy(\.overfull))
        let a2 = Placement.sharingAware(vms, k: 128, capacity: fixed)
        #expect(a2.hosts.count == 2 && a2.hosts.allSatisfy(\.overfull))
    }

    @Test("Local search empties hosts into others while everything fits, twins first")
    func localSearch() {
        // Three hosts of one VM each: A, B, and A's twin; room for 100 pages. Emptying the host
        // of A (fewest VMs, smallest footprint, lowest index) moves A to its twin (adds 0); then
        // B's host empties into it (40 + 40 = 80 ≤ 100): one host left, footprint 80.
        let vms = [Self.vm("A", set: 1, pages: 40), Self.vm("B", set: 2, pages: 40), Self.vm("A2", set: 1, pages: 40)]
        let c = Placement.Capacity(hostPages: 100, reservePages: 0, overheadPages: 0, hosts: nil)
        var groups = vms.indices.map { Placement.group([$0], vms, k: 128) }
        var p = Placement(method: .sharingAware, hosts: [], tooLarge: [])
        p.localSearch(&groups, vms, k: 128, capacity: c)
        #expect(groups.map(\.members) == [[2, 0, 1]])
        #expect(groups[0].estimate.footprintPages == 80)
        #expect(p.hostsEmptied == 2 && p.moves == 2)
    }

    @Test("The fingerprint file: written, read back equal; damaged files refused in one line")
    func file() throws {
        let path = try Self.tempFile("hand.mtr.txt", Self.hand)
        let f = FingerprintFile(k: 16, vms: try Fingerprints.make(path: path, k: 16), hashes: ["xxh3-64", "xxh3-64"])
        let bytes = f.encoded()
        #expect(try FingerprintFile.decode(bytes, file: "x") == f)
        let text = String(decoding: bytes, as: UTF8.self)
        func refused(_ s: String, _ expected: String) {
            #expect(s != text || expected.isEmpty, "\(expected): the edit changed nothing")
            #expect {
                _ = try FingerprintFile.decode(Array(s.utf8), file: "fp.json")
            } throws: { e in
                let line = "\(e)"
                if !line.contains(expected) { print("expected \(expected): \(line)") }
                return line.hasPrefix("fp.json: ") && line.contains(expected) && !line.contains("\n")
            }
        }
        refused("", "empty file")
        refused("{\"a\": ", "not JSON")
        refused("{\"format\": 1}", "not a fingerprint file")
        refused(
            text.replacingOccurrences(of: "\"version\":1", with: "\"version\":2"), "newer than this tracetool reads")
        refused(text.replacingOccurrences(of: "\"k\":16", with: "\"k\":3"), "k 3 is not between 16")
        refused(text.replacingOccurrences(of: "\"distinct\":2", with: "\"distinct\":3"), "sketch holds 2 values")
        refused(text.replacingOccurrences(of: "\"pages\":8", with: "\"pages\":2"), "add up to more than its 2 pages")
        refused(text.replacingOccurrences(of: "\"pageSize\":4096", with: "\"pageSize\":4000"), "page size 4000")
        // Values out of order.
        let sk = f.vms[0].sketch
        var swapped = Data()
        for v in [sk[1], sk[0]] { withUnsafeBytes(of: v.littleEndian) { swapped.append(contentsOf: $0) } }
        var orig = Data()
        for v in sk { withUnsafeBytes(of: v.littleEndian) { orig.append(contentsOf: $0) } }
        refused(
            text.replacingOccurrences(of: orig.base64EncodedString(), with: swapped.base64EncodedString()),
            "not strictly ascending")
    }
}
