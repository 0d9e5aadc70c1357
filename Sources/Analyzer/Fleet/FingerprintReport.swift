import Foundation
import TraceFormat

/// What `tracetool fingerprint` prints: each VM's summary, the sharing of all of them on one
/// host, and the pairs that gain most from sharing a host (docs/REPORT.md, "fingerprint").
public struct FingerprintReport: Sendable {
    public static let schemaVersion = 1
    /// Pairs are estimated for at most this many VMs (every pair is one sketch merge).
    public static let maxPairVMs = 400

    public struct Pair: Equatable, Sendable {
        public var a: Int
        public var b: Int
        /// Pages saved by putting a and b on one host, beyond what each saves alone.
        public var gainPages: Double
    }

    public var file: FingerprintFile
    public var group: GroupEstimate
    public var alone: [GroupEstimate]
    public var pairs: [Pair]?
    public var pairLimit: Int

    public init(_ file: FingerprintFile, pairs: Int) {
        self.file = file
        pairLimit = pairs
        let all = file.vms
        group = Fingerprints.estimate(all, members: Array(all.indices), k: file.k)
        alone = all.indices.map { Fingerprints.estimate(all, members: [$0], k: file.k) }
        guard pairs > 0, all.count >= 2, all.count <= Self.maxPairVMs else { return }
        var ps: [Pair] = []
        for a in all.indices {
            var g = GroupSketch(k: file.k)
            g.add(all[a], index: a)
            for b in (a + 1)..<all.count {
                let saved = Double(all[a].heldPages + all[b].heldPages) - g.footprint(adding: all[b])
                ps.append(Pair(a: a, b: b, gainPages: saved - alone[a].savedPages - alone[b].savedPages))
            }
        }
        ps.sort { ($0.gainPages, $1.a, $1.b) > ($1.gainPages, $0.a, $0.b) }
        self.pairs = Array(ps.prefix(pairs))
    }

    var mib: Double { Double(file.vms.first?.pageSize ?? 4096) / 1_048_576 }

    /// The sketch's relative standard error on distinct contents beyond k: 1/√(k − 2).
    public static func relativeError(k: Int) -> Double { 1 / Double(k - 2).squareRoot() }

    static func f1(_ x: Double) -> String { String(format: "%.1f", x) }
    static func f3(_ x: Double) -> String { String(format: "%.3f", x) }

    public func text() -> String {
        let vms = file.vms
        let traces = Set(vms.map(\.trace)).count
        var s =
            "fingerprints: \(vms.count) VMs from \(traces) trace\(traces == 1 ? "" : "s"), k \(file.k): exact for a VM of up to \(file.k) distinct contents, beyond that distinct contents are estimated (relative standard error \(Self.f1(100 * Self.relativeError(k: file.k)))%)\n"
        var t: [[String]] = [
            ["vm", "name", "trace", "at_s", "held_MiB", "content_MiB", "zero_MiB", "unknown_MiB", "distinct", "sketch"]
        ]
        for (i, f) in vms.enumerated() {
            t.append([
                "\(i)", f.name, URL(fileURLWithPath: f.trace).lastPathComponent, Self.f3(Double(f.atMicros) / 1e6),
                Self.f1(Double(f.heldPages) * mib), Self.f1(Double(f.contentPages) * mib),
                Self.f1(Double(f.zeroPages) * mib),
                Self.f1(Double(f.unknownPages) * mib), "\(f.distinct)", f.isExact ? "exact" : "k=\(file.k)",
            ])
        }
        s += TextTable.render(t, rightAligned: [0, 3, 4, 5, 6, 7, 8])
        s +=
            "all \(vms.count) VMs on one host (\(group.exact ? "exact" : "estimated")): held \(Self.f1(Double(group.heldPages) * mib)) MiB, footprint \(Self.f1(group.footprintPages * mib)) MiB with every duplicate shared, sharing saves \(Self.f1(group.savedPages * mib)) MiB (\(Self.f1(100 * group.savedPages / max(1, Double(group.heldPages))))% of held); each VM alone saves \(Self.f1(alone.reduce(0) { $0 + $1.savedPages } * mib)) MiB in all\n"
        if let pairs {
            if !pairs.isEmpty {
                s += "pairs that save most on one host (beyond what each saves alone), top \(pairs.count):\n"
                var p: [[String]] = [["a", "b", "gain_MiB"]]
                for x in pairs {
                    p.append(["\(x.a) \(vms[x.a].name)", "\(x.b) \(vms[x.b].name)", Self.f1(x.gainPages * mib)])
                }
                s += TextTable.render(p, rightAligned: [2])
            }
        } else if pairLimit > 0 && vms.count > Self.maxPairVMs {
            s +=
                "pairs: not estimated for \(vms.count) VMs (at most \(Self.maxPairVMs)); `tracetool place` uses the sketches directly\n"
        }
        return s
    }

    public func json() -> String {
        func q(_ s: String) -> String { TypedTable.jsonString(s) }
        let vms = file.vms
        var s =
            "{\"schemaVersion\":\(Self.schemaVersion),\"k\":\(file.k),\"relativeError\":\(Self.f3(Self.relativeError(k: file.k))),\"vms\":["
        s += vms.enumerated().map { i, f in
            "{\"vm\":\(i),\"name\":\(q(f.name)),\"trace\":\(q(f.trace)),\"traceVM\":\(f.vm),\"atSeconds\":\(Self.f3(Double(f.atMicros) / 1e6)),\"pageSizeBytes\":\(f.pageSize),\"heldPages\":\(f.heldPages),\"contentPages\":\(f.contentPages),\"zeroPages\":\(f.zeroPages),\"unknownPages\":\(f.unknownPages),\"distinctContents\":\(f.distinct),\"exact\":\(f.isExact),\"heldMiB\":\(Self.f3(Double(f.heldPages) * mib)),\"savedAloneMiB\":\(Self.f3(alone[i].savedPages * mib))}"
        }.joined(separator: ",")
        s +=
            "],\"group\":{\"vms\":\(vms.count),\"exact\":\(group.exact),\"heldPages\":\(group.heldPages),\"footprintPages\":\(Self.f3(group.footprintPages)),\"savedPages\":\(Self.f3(group.savedPages)),\"heldMiB\":\(Self.f3(Double(group.heldPages) * mib)),\"footprintMiB\":\(Self.f3(group.footprintPages * mib)),\"savedMiB\":\(Self.f3(group.savedPages * mib))}"
        s += ",\"pairs\":"
        if let pairs {
            s +=
                "["
                + pairs.map {
                    "{\"vmA\":\($0.a),\"vmB\":\($0.b),\"gainPages\":\(Self.f3($0.gainPages)),\"gainMiB\":\(Self.f3($0.gainPages * mib))}"
                }.joined(separator: ",") + "]"
        } else {
            s += "null"
        }
        return s + "}\n"
    }
}
