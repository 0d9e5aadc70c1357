import Foundation
import Replay
import TraceFormat

/// `tracetool place`: both placements of a fleet, each host's VMs merged into one trace, the
/// hosts replayed as a study, and the comparison (docs/FLEET.md).
///
/// The output folder holds `placement.json` (both placements: which VM on which host, the
/// estimates), `hosts/METHOD-hNNN.mtr.zst` (each host's trace), `study.json` (a study over
/// those traces: the chosen policy, the host memory, the settle time) and, once replayed,
/// `study/` (its cells and merged results) and `report.txt` / `report.json`.
public struct PlaceRun: Sendable {
    public struct Options: Sendable {
        public var hostPages: UInt64
        public var hosts: Int?
        public var policySpec: String
        public var assignments: [String]
        public var policy: Policy
        public var seed: UInt64?
        /// nil: long enough for the scan to visit every page of the busiest host once.
        public var settle: Micros?
        public var arrival: Arrival = .staggered
        public var level: Int32 = 3

        public init(
            hostPages: UInt64, hosts: Int?, policySpec: String, assignments: [String], policy: Policy,
            seed: UInt64?, settle: Micros?, arrival: Arrival = .staggered
        ) {
            self.arrival = arrival
            self.hostPages = hostPages
            self.hosts = hosts
            self.policySpec = policySpec
            self.assignments = assignments
            self.policy = policy
            self.seed = seed
            self.settle = settle
        }
    }

    /// When each VM starts on its host's replay.
    public enum Arrival: String, Sendable, CaseIterable {
        /// One after another, in the order placed, each once the scan has had time to visit
        /// every page of the one before (at the rate it gets with the VMs then on): VMs moving
        /// onto a running host, the steady state a placement is for.
        case staggered
        /// All at time 0: every VM's memory at once, before any sharing.
        case together
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// One replayed host.
    public struct Replayed: Sendable {
        public var savedPages: Double
        public var slowdown: Double
        public var worstVMSlowdown: Double
        public var swappedPeakPages: UInt64
        public var balloonPeakPages: UInt64
        public var refused: Int
        public var scanUnfinished: Int
    }

    public var fleet: FingerprintFile
    public var options: Options
    public var capacity: Placement.Capacity
    public var placements: [Placement]
    /// Host trace paths per placement, relative to the output folder.
    public var hostTraces: [[String]] = []
    public var settle: Micros = .zero
    /// Per placement, per host, when replayed.
    public var replayed: [[Replayed?]] = []
    public var placeSeconds: Double = 0
    /// Host merges (both placements) that may read one trace.
    public static let maxHostsPerTrace = 128

    /// Places the fleet (no files written).
    public init(fleet: FingerprintFile, options o: Options) throws(Failure) {
        self.fleet = fleet
        options = o
        var seen = Set<String>()
        for f in fleet.vms {
            guard seen.insert("\(f.trace)\u{0}\(f.vm)").inserted else {
                throw Failure("VM \(f.vm) (\(f.name)) of \(f.trace) is listed twice: give each trace once")
            }
        }
        let pageSize = UInt64(fleet.vms[0].pageSize)
        capacity = Placement.Capacity(
            hostPages: o.hostPages, reservePages: UInt64((o.policy.highFree * Double(o.hostPages)).rounded(.up)),
            overheadPages: UInt64((o.policy.overhead * 1_048_576 / Double(pageSize)).rounded(.up)), hosts: o.hosts)
        guard capacity.room(vms: 1) >= 1 else {
            throw Failure(
                "a host of \(o.hostPages) pages has no room for a VM after the high threshold and one VM's overhead")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        placements = [
            Placement.firstFitDecreasing(fleet.vms, k: fleet.k, capacity: capacity),
            Placement.sharingAware(fleet.vms, k: fleet.k, capacity: capacity),
        ]
        placeSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        settle = o.settle ?? autoSettle()
    }

    /// Simulated time for the scan to visit every page of every VM once on the most loaded
    /// host, at the policy's rates (per VM: min(shareScanVM, shareScanTotal / VMs on the
    /// host)), plus a tenth and 10 s: the replayed sharing is then the sharing a full scan
    /// finds, which the estimate predicts.
    func autoSettle() -> Micros {
        var seconds = 0.0
        for p in placements {
            for h in p.hosts {
                let rate = min(options.policy.shareScanVM, options.policy.shareScanTotal / Double(h.vms.count))
                guard rate > 0 else { continue }
                for i in h.vms { seconds = max(seconds, Double(fleet.vms[i].pages) / rate) }
            }
        }
        return Micros(UInt64((seconds * 1.1 + 10).rounded(.up)) * 1_000_000)
    }

    /// The arrival time of each VM of a host, in the order placed (`Arrival`).
    public func arrivals(_ h: Placement.Host) -> [Micros] {
        var out: [Micros] = []
        var t: UInt64 = 0
        for (n, i) in h.vms.enumerated() {
            out.append(Micros(t))
            guard options.arrival == .staggered else { continue }
            let rate = min(options.policy.shareScanVM, options.policy.shareScanTotal / Double(n + 1))
            if rate > 0 { t += UInt64((Double(fleet.vms[i].pages) / rate).rounded(.up)) * 1_000_000 }
        }
        return out
    }

    /// The last arrival on any host.
    public var lastArrival: Micros {
        placements.flatMap(\.hosts).map { arrivals($0).last ?? .zero }.max() ?? .zero
    }

    /// Writes each host's trace and the study over them into `out`.
    public mutating func writeHosts(out: String) throws(Failure) {
        // Each host's merge reads the whole trace of each of its VMs: a trace whose VMs are
        // spread over many hosts would be read once per host.
        var hostsOfTrace: [String: Int] = [:]
        for p in placements {
            for h in p.hosts {
                for t in Set(h.vms.map { fleet.vms[$0].trace }) { hostsOfTrace[t, default: 0] += 1 }
            }
        }
        if let (t, n) = hostsOfTrace.sorted(by: { $0.key < $1.key }).first(where: { $0.value > Self.maxHostsPerTrace })
        {
            throw Failure(
                "the VMs of \(t) are on \(n) hosts, and each host's merge reads all of it; split it first, one trace per VM (`tracetool convert \(t) vmK.mtr.zst --vms K`)"
            )
        }
        // Each VM is one input of its host's merge.
        for p in placements {
            if let (j, h) = p.hosts.enumerated().first(where: { $0.element.vms.count > TraceMerge.maxInputs }) {
                throw Failure(
                    "host \(j) of \(p.method.rawValue) holds \(h.vms.count) VMs; a host's replay merges at most \(TraceMerge.maxInputs) (give smaller hosts)"
                )
            }
        }
        do { try FileManager.default.createDirectory(atPath: out + "/hosts", withIntermediateDirectories: true) } catch
        {
            throw Failure("\(out)/hosts: cannot make the folder: \(error.localizedDescription)")
        }
        hostTraces = []
        for p in placements {
            var names: [String] = []
            for (j, h) in p.hosts.enumerated() {
                let name = "hosts/\(p.method.rawValue)-h\(String(format: "%03d", j)).mtr.zst"
                // One input per VM, in the order placed, each at its arrival.
                let offsets = arrivals(h)
                let inputs = h.vms.enumerated().map { n, i in
                    TraceMerge.Input(path: fleet.vms[i].trace, offset: offsets[n], vms: [fleet.vms[i].vm])
                }
                do { _ = try TraceMerge.merge(inputs, to: out + "/" + name, level: options.level) } catch {
                    throw Failure("host \(j) of \(p.method.rawValue): \(error.description)")
                }
                names.append(name)
            }
            hostTraces.append(names)
        }
        try writeStudy(out: out)
    }

    /// The study file: every host trace under the one policy, host memory and settle time.
    func writeStudy(out: String) throws(Failure) {
        func q(_ s: String) -> String { TypedTable.jsonString(s) }
        var s = "{\n  \"traces\": [" + hostTraces.joined().map(q).joined(separator: ", ") + "],\n"
        s += "  \"policies\": [\(q(options.policySpec))],\n"
        if !options.assignments.isEmpty {
            s += "  \"set\": [" + options.assignments.map(q).joined(separator: ", ") + "],\n"
        }
        if let seed = options.seed { s += "  \"seeds\": [\(seed)],\n" }
        s += "  \"host\": {\"memory\": \(q("\(options.hostPages) pages"))},\n"
        s += "  \"settle\": \(q("\(settle.rawValue / 1_000_000)s")),\n"
        s += "  \"output\": \"study\"\n}\n"
        do { try AtomicOutput.write(s, to: out + "/study.json") } catch { throw Failure(error.description) }
    }

    /// Replays every host through the study in `out` (cells already done are kept); returns
    /// the study's merged results and its folder, for the caller to write.
    public mutating func replay(
        out: String, jobs: Int, log: ((String) -> Void)?
    ) throws(Failure) -> (merged: StudyMerge, dir: String) {
        let plan: StudyPlan
        do { plan = try StudyPlan.make(try StudySpec.load(out + "/study.json")) } catch {
            throw Failure(error.description)
        }
        let dir = plan.spec.outputDir(override: nil)
        let o: StudyRunner.Outcome
        do { o = try StudyRunner.run(plan, ids: nil, out: dir, jobs: jobs, log: log) } catch {
            throw Failure(error.description)
        }
        let m = StudyMerge.merge(plan, out: dir)
        if !o.failed.isEmpty {
            throw Failure("\(o.failed.count) host replays failed: see \(dir)/cells/*.error.json")
        }
        // Cell i is trace i (one policy, one seed).
        var byTrace: [String: Replayed] = [:]
        for c in plan.cells {
            guard let d = FileManager.default.contents(atPath: StudyRunner.resultPath(dir, c.id)),
                let r = try? JSONDecoder().decode(StudyCellResult.self, from: d), let rep = r.report
            else { throw Failure("cell \(c.id) (\(c.trace)) has no result in \(dir)/cells") }
            byTrace[c.trace] = Replayed(
                savedPages: rep.sharing.savedPages, slowdown: rep.cost.slowdown,
                worstVMSlowdown: rep.cost.worstVMSlowdown ?? 0, swappedPeakPages: rep.reclaim.hostSwappedPeakPages,
                balloonPeakPages: rep.reclaim.hostBalloonPeakPages, refused: rep.admission.refused.count,
                scanUnfinished: rep.scan.vmsBeforeFullPass.count)
        }
        replayed = hostTraces.map { names in names.map { byTrace[$0] } }
        return (m, dir)
    }
}
