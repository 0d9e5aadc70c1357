import Foundation

/// Assigning VMs to hosts (docs/FLEET.md, "Placement").
///
/// A host of M bytes has room for VMs' memory of M less the high free-memory threshold and
/// each VM's overhead (the model's defaults: 6% of M, 32 MiB a VM): within it the host never
/// leaves its high state. VMs join a host one at a time (`tracetool place` replays them
/// arriving in that order), and a VM joins only if all it holds fits beside the host's
/// footprint before any of it is shared (`admits`): the scan finds its duplicates only after
/// it arrives. A placement that fits by its estimates then needs no reclamation if the
/// estimates are right, and the replay of each host checks that.
///
/// - **first-fit decreasing** (the baseline, sharing-oblivious): VMs by held pages, largest
///   first, each on the first host whose held pages leave room; a new host when none does.
/// - **sharing-aware**: VMs in the same order, each on the open host where it adds the least
///   footprint (the host's union sketch with the VM's, less the host's own: pages it shares
///   with what is there cost nothing), a new host when none has room; then a local search
///   that (1) empties hosts, fewest VMs first, into the others while everything fits, and
///   (2) moves single VMs to the host where they add least when that lowers the total
///   footprint, until a pass changes nothing (at most `maxPasses`).
///
/// Memory Buddies (Wood et al., VEE 2009) fingerprinted VMs with Bloom filters and placed
/// each VM on the host with which its filter overlapped most; a Bloom filter of a union is the
/// OR of filters of the same size, but its overlap count gives shared pages only up to false
/// positives that grow with fill. A bottom-k sketch of a union is the members' sketches merged
/// and cut to k, so a host's sketch stays k values however many VMs it holds, and the marginal
/// footprint is read from it directly.
public struct Placement: Sendable {
    public struct Capacity: Sendable, Equatable {
        /// Machine pages of a host.
        public var hostPages: UInt64
        /// Pages kept free: the high threshold.
        public var reservePages: UInt64
        /// Pages of overhead per VM.
        public var overheadPages: UInt64
        /// Hosts available (nil: as many as needed).
        public var hosts: Int?

        public init(hostPages: UInt64, reservePages: UInt64, overheadPages: UInt64, hosts: Int?) {
            self.hostPages = hostPages
            self.reservePages = reservePages
            self.overheadPages = overheadPages
            self.hosts = hosts
        }

        /// Pages a host's VMs may use for `n` VMs.
        func room(vms n: Int) -> Double {
            Double(hostPages) - Double(reservePages) - Double(overheadPages) * Double(n)
        }
    }

    public enum Method: String, Sendable, CaseIterable {
        case firstFitDecreasing = "ffd"
        case sharingAware = "sharing-aware"
    }

    public struct Host: Sendable, Equatable {
        /// Indexes into the fingerprints, in the order they were placed.
        public var vms: [Int]
        /// Held pages of its VMs (no sharing).
        public var heldPages: UInt64
        /// Estimated footprint with every duplicate shared.
        public var footprintPages: Double
        /// True when its VMs need more than it has (only with a fixed host count).
        public var overfull: Bool
    }

    public var method: Method
    public var hosts: [Host]
    /// VMs that fit on no host by themselves (larger than a host).
    public var tooLarge: [Int]
    /// Local-search passes run, and moves made.
    public var passes = 0
    public var moves = 0
    public var hostsEmptied = 0

    public static let maxPasses = 4

    /// VMs by held pages, largest first (index breaks ties).
    static func order(_ vms: [VMFingerprint]) -> [Int] {
        vms.indices.sorted { (vms[$0].heldPages, $1) > (vms[$1].heldPages, $0) }
    }

    static func group(_ members: [Int], _ vms: [VMFingerprint], k: Int) -> GroupSketch {
        var g = GroupSketch(k: k)
        for i in members { g.add(vms[i], index: i) }
        return g
    }

    static func host(_ g: GroupSketch, overfull: Bool = false) -> Host {
        Host(vms: g.members, heldPages: g.held, footprintPages: g.estimate.footprintPages, overfull: overfull)
    }

    /// The baseline: first-fit decreasing by held pages.
    public static func firstFitDecreasing(_ vms: [VMFingerprint], k: Int, capacity c: Capacity) -> Placement {
        var members: [[Int]] = [], held: [UInt64] = []
        var tooLarge: [Int] = [], overfull = Set<Int>()
        for i in order(vms) {
            let h = vms[i].heldPages
            if Double(h) > c.room(vms: 1) { tooLarge.append(i) }
            if let j = members.indices.first(where: { Double(held[$0] + h) <= c.room(vms: members[$0].count + 1) }) {
                members[j].append(i)
                held[j] += h
            } else if c.hosts == nil || members.count < c.hosts! {
                members.append([i])
                held.append(h)
            } else {
                // No room anywhere on a fixed count: the host with the most room left.
                let j = members.indices.max {
                    (c.room(vms: members[$0].count) - Double(held[$0]), $1) < (
                        c.room(vms: members[$1].count) - Double(held[$1]), $0
                    )
                }!
                members[j].append(i)
                held[j] += h
                overfull.insert(j)
            }
        }
        let hosts = members.enumerated().map { j, m in host(group(m, vms, k: k), overfull: overfull.contains(j)) }
        return Placement(method: .firstFitDecreasing, hosts: hosts, tooLarge: tooLarge)
    }

    /// Whether a host takes one more VM: its held pages must fit beside the host's footprint
    /// before any of them is shared (the scan finds its duplicates only after it arrives),
    /// with one more VM's overhead. Its footprint after sharing is then smaller still.
    static func admits(_ g: GroupSketch, _ f: VMFingerprint, _ c: Capacity) -> Bool {
        g.estimate.footprintPages + Double(f.heldPages) <= c.room(vms: g.members.count + 1)
    }

    /// Greedy by marginal footprint, then local search.
    public static func sharingAware(_ vms: [VMFingerprint], k: Int, capacity c: Capacity) -> Placement {
        var groups: [GroupSketch] = []
        var tooLarge: [Int] = []
        var overfull = Set<Int>()
        /// The footprint `f` adds to `g`, when `g` admits it (checked first: it costs no merge).
        func marginal(_ g: GroupSketch, adding f: VMFingerprint) -> Double? {
            guard Self.admits(g, f, c) else { return nil }
            return g.footprint(adding: f) - g.estimate.footprintPages
        }
        for i in order(vms) {
            let f = vms[i]
            if Double(f.heldPages) > c.room(vms: 1) { tooLarge.append(i) }
            var best: (j: Int, marginal: Double)? = nil
            for j in groups.indices {
                if let m = marginal(groups[j], adding: f), best == nil || m < best!.marginal { best = (j, m) }
            }
            if let b = best {
                groups[b.j].add(f, index: i)
            } else if c.hosts == nil || groups.count < c.hosts! {
                var g = GroupSketch(k: k)
                g.add(f, index: i)
                groups.append(g)
            } else {
                let j = groups.indices.max {
                    (c.room(vms: groups[$0].members.count) - groups[$0].estimate.footprintPages, $1)
                        < (c.room(vms: groups[$1].members.count) - groups[$1].estimate.footprintPages, $0)
                }!
                groups[j].add(f, index: i)
                overfull.insert(j)
            }
        }
        var p = Placement(method: .sharingAware, hosts: [], tooLarge: tooLarge)
        if overfull.isEmpty {
            p.localSearch(&groups, vms, k: k, capacity: c)
        }
        p.hosts = groups.enumerated().map { j, g in host(g, overfull: overfull.contains(j)) }
        return p
    }

    /// Empties hosts into others, then moves single VMs while that lowers the total footprint.
    mutating func localSearch(_ groups: inout [GroupSketch], _ vms: [VMFingerprint], k: Int, capacity c: Capacity) {
        var changed = true
        while changed && passes < Self.maxPasses {
            changed = false
            passes += 1
            // (1) Empty a host: fewest VMs first, then smallest footprint.
            let candidates = groups.indices.sorted {
                (groups[$0].members.count, groups[$0].estimate.footprintPages, $0)
                    < (groups[$1].members.count, groups[$1].estimate.footprintPages, $1)
            }
            var closed = Set<Int>()
            for j in candidates where groups.count - closed.count > 1 {
                var trial = groups
                var ok = true
                for i in groups[j].members {
                    var best: (Int, Double)? = nil
                    for t in trial.indices where t != j && !closed.contains(t) {
                        guard Self.admits(trial[t], vms[i], c) else { continue }
                        let marginal = trial[t].footprint(adding: vms[i]) - trial[t].estimate.footprintPages
                        if best == nil || marginal < best!.1 { best = (t, marginal) }
                    }
                    guard let b = best else {
                        ok = false
                        break
                    }
                    trial[b.0].add(vms[i], index: i)
                }
                if ok {
                    moves += groups[j].members.count
                    trial[j] = GroupSketch(k: k)
                    groups = trial
                    closed.insert(j)
                    hostsEmptied += 1
                    changed = true
                }
            }
            if !closed.isEmpty {
                groups = groups.enumerated().filter { !closed.contains($0.offset) }.map(\.element)
            }
            // (2) Single moves that lower the total footprint.
            for j in groups.indices {
                var idx = 0
                while idx < groups[j].members.count {
                    let i = groups[j].members[idx]
                    guard groups[j].members.count > 1 else { break }
                    var best: (Int, Double)? = nil
                    for t in groups.indices where t != j {
                        guard Self.admits(groups[t], vms[i], c) else { continue }
                        let marginal = groups[t].footprint(adding: vms[i]) - groups[t].estimate.footprintPages
                        if best == nil || marginal < best!.1 { best = (t, marginal) }
                    }
                    // Removing a VM saves at most what it could add: its unknown pages, its
                    // distinct contents and a zero frame. Rebuild its host without it (one merge
                    // per member) only when a move could beat that.
                    let bound = Double(vms[i].unknownPages + vms[i].distinct + 1)
                    guard let b0 = best, b0.1 + 1 <= bound else {
                        idx += 1
                        continue
                    }
                    let without = Self.group(groups[j].members.filter { $0 != i }, vms, k: k)
                    let saving = groups[j].estimate.footprintPages - without.estimate.footprintPages
                    // A move must save at least a page, so estimates' rounding cannot cycle.
                    if let b = best, b.1 + 1 <= saving {
                        groups[j] = without
                        groups[b.0].add(vms[i], index: i)
                        moves += 1
                        changed = true
                    } else {
                        idx += 1
                    }
                }
            }
        }
    }

    public var footprintPages: Double { hosts.reduce(0) { $0 + $1.footprintPages } }
    public var heldPages: UInt64 { hosts.reduce(0) { $0 + $1.heldPages } }
}
