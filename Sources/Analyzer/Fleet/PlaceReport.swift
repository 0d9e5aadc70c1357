import Foundation

/// What `tracetool place` prints (docs/REPORT.md, "place"): per placement the hosts used, the
/// estimated and the replayed sharing, the replayed reclamation and slowdown; then each host.
/// Sums over hosts are named as sums: a sum of per-host peaks is not one host's peak.
extension PlaceRun {
    public static let schemaVersion = 1

    var mib: Double { Double(fleet.vms[0].pageSize) / 1_048_576 }

    struct Totals {
        var hosts = 0, overfull = 0, vms = 0
        var held = 0.0, footprint = 0.0, saved = 0.0
        var replayedSaved: Double? = nil
        var worstHostSlowdown: Double? = nil, worstVMSlowdown: Double? = nil
        var swappedPeakSum: UInt64? = nil, balloonPeakSum: UInt64? = nil
        var refused: Int? = nil, scanUnfinished: Int? = nil
    }

    func totals(_ m: Int) -> Totals {
        let p = placements[m]
        var t = Totals()
        t.hosts = p.hosts.count
        t.overfull = p.hosts.filter(\.overfull).count
        t.vms = p.hosts.reduce(0) { $0 + $1.vms.count }
        t.held = Double(p.heldPages)
        t.footprint = p.footprintPages
        t.saved = t.held - t.footprint
        let rs = replayed.indices.contains(m) ? replayed[m].compactMap { $0 } : []
        if !rs.isEmpty && rs.count == p.hosts.count {
            t.replayedSaved = rs.reduce(0) { $0 + $1.savedPages }
            t.worstHostSlowdown = rs.map(\.slowdown).max()
            t.worstVMSlowdown = rs.map(\.worstVMSlowdown).max()
            t.swappedPeakSum = rs.reduce(0) { $0 + $1.swappedPeakPages }
            t.balloonPeakSum = rs.reduce(0) { $0 + $1.balloonPeakPages }
            t.refused = rs.reduce(0) { $0 + $1.refused }
            t.scanUnfinished = rs.reduce(0) { $0 + $1.scanUnfinished }
        }
        return t
    }

    static func f1(_ x: Double) -> String { String(format: "%.1f", x) }
    static func f3(_ x: Double) -> String { String(format: "%.3f", x) }
    static func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    var arrivalText: String {
        switch options.arrival {
        case .together: return "every VM starts at 0"
        case .staggered:
            return
                "VMs arrive in the order placed, each once the scan has visited every page of the one before (the last at \(lastArrival.rawValue / 1_000_000) s)"
        }
    }

    public func text() -> String {
        let traces = Set(fleet.vms.map(\.trace)).count
        let hostMiB = Double(options.hostPages) * mib
        var s =
            "place: \(fleet.vms.count) VMs from \(traces) trace\(traces == 1 ? "" : "s") (fingerprints k \(fleet.k)); hosts of \(Self.f1(hostMiB)) MiB"
        s += options.hosts.map { ", \($0) of them" } ?? ", as many as needed"
        s +=
            "; a host holds VMs whose estimated footprint fits in \(Self.f1(Double(capacity.hostPages - capacity.reservePages) * mib)) MiB (the high threshold kept free) less \(Self.f1(Double(capacity.overheadPages) * mib)) MiB overhead per VM\n"
        let replayedAll = !replayed.isEmpty
        s +=
            replayedAll
            ? "each host replayed: policy \(options.policySpec)\(options.assignments.isEmpty ? "" : " + " + options.assignments.joined(separator: ",")); \(arrivalText); settle \(settle.rawValue / 1_000_000) s after the last record\(options.settle == nil ? " (a full scan of the busiest host)" : ""); study in study/\n"
            : "not replayed (--no-replay): study.json runs the hosts (`tracetool study local study.json`)\n"
        var rows: [[String]] = [
            [
                "placement", "hosts", "VMs", "held_MiB", "est_footprint_MiB", "est_saved_MiB", "replayed_saved_MiB",
                "worst_host_slowdown", "worst_VM_slowdown", "swapped_peak_MiB_sum_of_hosts", "refused_VMs",
            ]
        ]
        for m in placements.indices {
            let t = totals(m)
            rows.append([
                placements[m].method.rawValue, "\(t.hosts)" + (t.overfull > 0 ? " (\(t.overfull) overfull)" : ""),
                "\(t.vms)", Self.f1(t.held * mib), Self.f1(t.footprint * mib), Self.f1(t.saved * mib),
                t.replayedSaved.map { Self.f1($0 * mib) } ?? "-", t.worstHostSlowdown.map(Self.pct) ?? "-",
                t.worstVMSlowdown.map(Self.pct) ?? "-", t.swappedPeakSum.map { Self.f1(Double($0) * mib) } ?? "-",
                t.refused.map { "\($0)" } ?? "-",
            ])
        }
        s += TextTable.render(rows, rightAligned: Set(1...10))
        let b = totals(0), a = totals(1)
        s +=
            "sharing-aware against first-fit decreasing: \(b.hosts - a.hosts) host\(abs(b.hosts - a.hosts) == 1 ? "" : "s") fewer (\(Self.pct(Double(b.hosts - a.hosts) / Double(max(1, b.hosts))))), estimated sharing saves \(Self.f1((a.saved - b.saved) * mib)) MiB more"
        if let ra = a.replayedSaved, let rb = b.replayedSaved {
            s += ", replayed sharing saves \(Self.f1((ra - rb) * mib)) MiB more"
        }
        s += "\n"
        if let ra = a.replayedSaved, let rb = b.replayedSaved {
            s +=
                "estimate against replay (saved MiB): first-fit decreasing \(Self.f1(b.saved * mib)) vs \(Self.f1(rb * mib)), sharing-aware \(Self.f1(a.saved * mib)) vs \(Self.f1(ra * mib))\n"
        }
        let notes = placements.indices.compactMap { m -> String? in
            let t = totals(m)
            var n: [String] = []
            if t.overfull > 0 {
                n.append("\(t.overfull) hosts overfull (more VMs than \(options.hosts ?? 0) hosts hold)")
            }
            if let r = t.refused, r > 0 { n.append("\(r) VMs refused at power-on") }
            if let u = t.scanUnfinished, u > 0 { n.append("the scan did not finish a pass on \(u) VMs") }
            if !placements[m].tooLarge.isEmpty { n.append("\(placements[m].tooLarge.count) VMs larger than a host") }
            return n.isEmpty ? nil : "\(placements[m].method.rawValue): " + n.joined(separator: "; ")
        }
        for n in notes { s += "note: \(n)\n" }
        s += "\nhosts\n"
        var h: [[String]] = [
            [
                "placement", "host", "VMs", "held_MiB", "est_saved_MiB", "replayed_saved_MiB", "slowdown",
                "worst_VM_slowdown",
                "swapped_peak_MiB", "balloon_peak_MiB", "trace",
            ]
        ]
        for (m, p) in placements.enumerated() {
            for (j, host) in p.hosts.enumerated() {
                let r = replayed.indices.contains(m) ? replayed[m][j] : nil
                h.append([
                    p.method.rawValue, "\(j)" + (host.overfull ? "!" : ""), "\(host.vms.count)",
                    Self.f1(Double(host.heldPages) * mib),
                    Self.f1((Double(host.heldPages) - host.footprintPages) * mib),
                    r.map { Self.f1($0.savedPages * mib) } ?? "-", r.map { Self.pct($0.slowdown) } ?? "-",
                    r.map { Self.pct($0.worstVMSlowdown) } ?? "-",
                    r.map { Self.f1(Double($0.swappedPeakPages) * mib) } ?? "-",
                    r.map { Self.f1(Double($0.balloonPeakPages) * mib) } ?? "-",
                    hostTraces.indices.contains(m) ? hostTraces[m][j] : "-",
                ])
            }
        }
        s += TextTable.render(h, rightAligned: Set(1...9))
        return s
    }

    public func json() -> String {
        func q(_ s: String) -> String { TypedTable.jsonString(s) }
        func opt(_ x: Double?, _ f: (Double) -> String = { Self.f3($0) }) -> String { x.map(f) ?? "null" }
        var s = "{\"schemaVersion\":\(Self.schemaVersion),\"vms\":\(fleet.vms.count),\"k\":\(fleet.k)"
        s +=
            ",\"host\":{\"machinePages\":\(options.hostPages),\"machineMiB\":\(Self.f3(Double(options.hostPages) * mib)),\"hosts\":\(options.hosts.map(String.init) ?? "null"),\"reservePages\":\(capacity.reservePages),\"overheadPerVMPages\":\(capacity.overheadPages)}"
        s +=
            ",\"policy\":\(q(options.policySpec)),\"set\":[\(options.assignments.map(q).joined(separator: ","))],\"seed\":\(options.seed.map(String.init) ?? "null"),\"arrival\":\(q(options.arrival.rawValue)),\"lastArrivalSeconds\":\(lastArrival.rawValue / 1_000_000),\"settleSeconds\":\(settle.rawValue / 1_000_000),\"replayed\":\(!replayed.isEmpty)"
        s += ",\"placements\":["
        s += placements.enumerated().map { m, p in
            let t = totals(m)
            var x =
                "{\"method\":\(q(p.method.rawValue)),\"hosts\":\(t.hosts),\"overfullHosts\":\(t.overfull),\"heldMiB\":\(Self.f3(t.held * mib)),\"estimatedFootprintMiB\":\(Self.f3(t.footprint * mib)),\"estimatedSavedMiB\":\(Self.f3(t.saved * mib)),\"replayedSavedMiB\":\(opt(t.replayedSaved.map { $0 * mib })),\"worstHostSlowdown\":\(opt(t.worstHostSlowdown)),\"worstVMSlowdown\":\(opt(t.worstVMSlowdown)),\"swappedPeakSumOfHostsMiB\":\(opt(t.swappedPeakSum.map { Double($0) * mib })),\"refusedVMs\":\(t.refused.map(String.init) ?? "null"),\"scanUnfinishedVMs\":\(t.scanUnfinished.map(String.init) ?? "null"),\"tooLargeVMs\":\(p.tooLarge.count),\"localSearch\":{\"passes\":\(p.passes),\"moves\":\(p.moves),\"hostsEmptied\":\(p.hostsEmptied)}"
            x += ",\"hostList\":["
            x += p.hosts.enumerated().map { j, h in
                let r = replayed.indices.contains(m) ? replayed[m][j] : nil
                var y =
                    "{\"id\":\(j),\"overfull\":\(h.overfull),\"trace\":\(hostTraces.indices.contains(m) ? q(hostTraces[m][j]) : "null"),\"vms\":[\(h.vms.map { q(fleet.vms[$0].name) }.joined(separator: ","))],\"heldMiB\":\(Self.f3(Double(h.heldPages) * mib)),\"estimatedFootprintMiB\":\(Self.f3(h.footprintPages * mib)),\"estimatedSavedMiB\":\(Self.f3((Double(h.heldPages) - h.footprintPages) * mib))"
                if let r {
                    y +=
                        ",\"replayed\":{\"savedMiB\":\(Self.f3(r.savedPages * mib)),\"slowdown\":\(Self.f3(r.slowdown)),\"worstVMSlowdown\":\(Self.f3(r.worstVMSlowdown)),\"swappedPeakMiB\":\(Self.f3(Double(r.swappedPeakPages) * mib)),\"balloonPeakMiB\":\(Self.f3(Double(r.balloonPeakPages) * mib)),\"refusedVMs\":\(r.refused),\"scanUnfinishedVMs\":\(r.scanUnfinished)}"
                } else {
                    y += ",\"replayed\":null"
                }
                return y + "}"
            }.joined(separator: ",")
            return x + "]}"
        }.joined(separator: ",")
        return s + "]}\n"
    }
}
