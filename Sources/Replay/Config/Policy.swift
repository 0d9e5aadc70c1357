import Foundation
import TraceFormat

/// Every knob of the model, with the paper's defaults (docs/MODEL.md lists their sources).
/// The names are the ones users type with `--set key=value` and in JSON policy files.
public struct Policy: Codable, Equatable, Sendable {
    public enum Switch: String, Codable, Sendable, CaseIterable { case on, off }

    /// The sharing scanner, by registry name (SharingScanners: on, off, zero-only, ksm).
    public var sharing: SharingName = .on
    /// Salting (docs/MODEL.md "Salting"): on, pages are shared only between VMs of the same
    /// salt (a VM's own id unless `--vm ID:salt=N` gives it one), as ESX's
    /// `Mem.ShareForceSalting` 2 does; off, across all VMs (the paper).
    public var salting: Switch = .off
    public var shareScanVM: Double = 50
    public var shareScanTotal: Double = 200
    public var hashBits: Int = 64
    public var sampleSize: Int = 100
    public var samplePeriod: Double = 30
    public var slowGain: Double = 0.25
    public var fastGain: Double = 0.75
    /// The activity estimator targets use, by registry name (ActivityEstimators).
    public var estimator: EstimatorName = .sampled
    /// estimator=damon (docs/MODEL.md "DAMON estimator"): the aggregation interval (s; the
    /// sampling interval is the model's one-second tick) and the region count bounds.
    public var damonAggregate: Double = 20
    public var damonMinRegions: Int = 10
    public var damonMaxRegions: Int = 1000
    public var idleTax: Double = 0.75
    public var balancePeriod: Double = 15
    public var highFree: Double = 0.06
    public var softFree: Double = 0.04
    public var hardFree: Double = 0.02
    public var lowFree: Double = 0.01
    public var hysteresis: Double = 0
    /// The free-memory states (docs/MODEL.md "Free-memory states"): the paper's four at
    /// highFree/softFree/hardFree/lowFree of M, or vSphere 6's five as multiples of minFree.
    public var memoryStates: MemoryStatesName = .paper
    public var balloon: Switch = .on
    public var maxBalloon: Double = 0.5
    public var balloonRate: Double = 4096
    /// Free page reporting (docs/MODEL.md "Free page reporting"): whole aligned 2 MiB blocks
    /// the guest freed go back to the host after `freePageDelay`, without a balloon.
    public var freePageReporting: Switch = .off
    public var freePageDelay: Double = 2
    /// The block reported whole, KiB (Linux: the page-block order, 2 MiB on x86-64).
    public var freePageBlock: Double = 2048
    /// Large pages (docs/MODEL.md "Large pages"): aligned 2 MiB blocks wholly backed by
    /// private pages are mapped by one large page, not shared, ballooned or swapped until the
    /// host splits them, when free memory falls below `largePageBreakFree` of M.
    public var largePages: PageBackingName = .off
    /// vSphere 6 breaks large pages below 400% of minFree; with the paper's 6% as minFree, 24%.
    public var largePageBreakFree: Double = 0.24
    /// The compression cache (docs/MODEL.md "Compression cache"): a page compressing to at
    /// most `compressionThreshold` of a page stays in a per-VM cache of at most
    /// `compressionCache` of the VM's max instead of going to swap.
    public var compression: SwapTierName = .off
    public var compressionThreshold: Double = 0.5
    public var compressionCache: Double = 0.1
    /// Host paging's victim chooser, by registry name (SwapVictims).
    public var swapVictim: SwapVictimName = .random
    /// Per-VM overhead in MiB.
    public var overhead: Double = 32
    public var sharesPerMiB: Double = 10
    public var minFraction: Double = 0
    public var seed: UInt64 = 1
    // The cost model (docs/MODEL.md "Cost model"): estimated time per event, µs.
    public var costHiddenFault: Double = 2
    public var costPageCopy: Double = 1
    public var costScanPage: Double = 1
    public var costBalloonPage: Double = 1
    public var costGuestRefault: Double = 8000
    public var costSwapOut: Double = 100
    public var costSwapIn: Double = 8000
    public var costCompress: Double = 5
    public var costDecompress: Double = 20

    public init() {}

    /// The largest scan or balloon rate accepted, pages/s (a sweep of a 2^32-page VM in ~4 s).
    public static let maxRate: Double = 1e9
    /// The longest sample or balance period accepted, s (about 115 days).
    public static let maxPeriod: Double = 1e7

    /// Checks ranges; returns a message naming the knob and its range.
    public func validate() throws(PolicyError) {
        func check(_ ok: Bool, _ key: String, _ rule: String) throws(PolicyError) {
            if !ok { throw PolicyError.badValue(key: key, message: rule) }
        }
        func range(_ v: Double, _ key: String, _ lo: Double, _ hi: Double, _ unit: String) throws(PolicyError) {
            try check(v.isFinite && v >= lo && v <= hi, key, "must be in [\(PolicyKnobs.fmt(lo)), \(PolicyKnobs.fmt(hi))]\(unit.isEmpty ? "" : " " + unit)")
        }
        func registered<F: PolicyFamily>(_ name: ImplementationName<F>) throws(PolicyError) {
            try check(F.isRegistered(name.rawValue), F.knob, "\"\(name)\" is not one of \(F.names.joined(separator: ", "))")
        }
        try registered(sharing)
        try registered(estimator)
        try registered(swapVictim)
        try registered(largePages)
        try registered(compression)
        try registered(memoryStates)
        try range(shareScanVM, "shareScanVM", 0, Policy.maxRate, "pages/s")
        try range(shareScanTotal, "shareScanTotal", 0, Policy.maxRate, "pages/s")
        try check((1...64).contains(hashBits), "hashBits", "must be in [1, 64]")
        try check(sampleSize >= 1 && sampleSize <= 1 << 32, "sampleSize", "must be in [1, 4294967296] pages (more than a VM's pages samples all of them)")
        try range(samplePeriod, "samplePeriod", 1, Policy.maxPeriod, "s")
        try range(slowGain, "slowGain", 0, 1, "")
        try range(fastGain, "fastGain", 0, 1, "")
        try check(idleTax.isFinite && idleTax >= 0 && idleTax < 1, "idleTax", "must be in [0, 1)")
        try range(balancePeriod, "balancePeriod", 1, Policy.maxPeriod, "s")
        try range(freePageDelay, "freePageDelay", 0, Policy.maxPeriod, "s")
        try range(damonAggregate, "damonAggregate", 1, Policy.maxPeriod, "s")
        try check(damonMinRegions >= 1 && damonMinRegions <= 1 << 20, "damonMinRegions", "must be in [1, 1048576]")
        try check(damonMaxRegions >= damonMinRegions && damonMaxRegions <= 1 << 20, "damonMaxRegions", "must be in [damonMinRegions, 1048576]")
        try range(freePageBlock, "freePageBlock", 1, 1_073_741_824, "KiB")
        try check(0 < lowFree && lowFree <= hardFree && hardFree <= softFree && softFree <= highFree && highFree < 1,
                  "highFree", "thresholds must satisfy 0 < lowFree ≤ hardFree ≤ softFree ≤ highFree < 1")
        try range(highFree, "highFree", 0, 0.5, "of M")
        try check(hysteresis.isFinite && hysteresis >= 0 && hysteresis < 1, "hysteresis", "must be in [0, 1)")
        if largePages == .on && memoryStates == .paper {
            try check(largePageBreakFree.isFinite && largePageBreakFree >= highFree && largePageBreakFree < 1, "largePageBreakFree",
                      "must be in [highFree, 1) of M (large pages are split before ballooning and paging start)")
        }
        try check(compressionThreshold.isFinite && compressionThreshold > 0 && compressionThreshold <= 1, "compressionThreshold", "must be in (0, 1] of a page")
        try range(compressionCache, "compressionCache", 0, 1, "of max")
        try range(maxBalloon, "maxBalloon", 0, 1, "")
        try range(balloonRate, "balloonRate", 0, Policy.maxRate, "pages/s")
        try range(overhead, "overhead", 0, 1_048_576, "MiB")
        try range(sharesPerMiB, "sharesPerMiB", 0, 1_000_000, "")
        try range(minFraction, "minFraction", 0, 1, "")
        for (v, k) in [(costHiddenFault, "costHiddenFault"), (costPageCopy, "costPageCopy"), (costScanPage, "costScanPage"),
                       (costBalloonPage, "costBalloonPage"), (costGuestRefault, "costGuestRefault"), (costSwapOut, "costSwapOut"),
                       (costSwapIn, "costSwapIn"), (costCompress, "costCompress"), (costDecompress, "costDecompress")] {
            try range(v, k, 0, 1e9, "µs")
        }
    }
}

public enum PolicyError: Error, CustomStringConvertible, Equatable {
    case unknownKnob(String)
    case badValue(key: String, message: String)
    case unknownPreset(String)
    case badFile(path: String, message: String)

    public var description: String {
        switch self {
        case .unknownKnob(let k):
            if let near = Suggest.nearest(k, among: PolicyKnobs.all.map(\.name)) {
                return "unknown knob \"\(k)\"; did you mean \(near)? (`tracetool policy show` lists every knob)"
            }
            return "unknown knob \"\(k)\"; `tracetool policy show` lists them (\(PolicyKnobs.all.map(\.name).joined(separator: ", ")))"
        case .badValue(let k, let m): return "\(k): \(m)"
        case .unknownPreset(let p):
            let near = Suggest.nearest(p, among: Presets.all.map(\.name)).map { "; did you mean \($0)? A" } ?? "; a"
            return "unknown policy \"\(p)\"\(near) policy is a preset (\(Presets.all.map(\.name).joined(separator: ", "))), PRESET,key=value,…, a JSON file or key=value,…"
        case .badFile(let p, let m): return "\(p): \(m)"
        }
    }
}

/// One knob: its name, what it means, and how to read and set it as text.
public struct PolicyKnob: Sendable {
    public let name: String
    public let unit: String
    public let help: String
    let get: @Sendable (Policy) -> String
    let set: @Sendable (inout Policy, String) throws(PolicyError) -> Void
}

public enum PolicyKnobs {
    static func number(_ k: String, _ s: String) throws(PolicyError) -> Double {
        guard let v = Double(s), v.isFinite else { throw PolicyError.badValue(key: k, message: "\"\(s)\" is not a finite number") }
        return v
    }

    static func seconds(_ k: String, _ s: String) throws(PolicyError) -> Double {
        do { return try Units.duration(s).seconds } catch { throw PolicyError.badValue(key: k, message: error.description) }
    }

    static func choice<E: RawRepresentable & CaseIterable>(_ k: String, _ s: String, _: E.Type) throws(PolicyError) -> E where E.RawValue == String {
        guard let v = E(rawValue: s) else {
            throw PolicyError.badValue(key: k, message: "\"\(s)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    static func fmt(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    static func num(_ name: String, _ unit: String, _ help: String,
                    _ kp: WritableKeyPath<Policy, Double> & Sendable) -> PolicyKnob {
        PolicyKnob(name: name, unit: unit, help: help,
                   get: { fmt($0[keyPath: kp]) },
                   set: { (p: inout Policy, s: String) throws(PolicyError) in p[keyPath: kp] = try number(name, s) })
    }

    static func dur(_ name: String, _ help: String,
                    _ kp: WritableKeyPath<Policy, Double> & Sendable) -> PolicyKnob {
        PolicyKnob(name: name, unit: "s", help: help,
                   get: { fmt($0[keyPath: kp]) + "s" },
                   set: { (p: inout Policy, s: String) throws(PolicyError) in p[keyPath: kp] = try seconds(name, s) })
    }

    static func int(_ name: String, _ help: String, _ kp: WritableKeyPath<Policy, Int> & Sendable) -> PolicyKnob {
        PolicyKnob(name: name, unit: "", help: help,
                   get: { String($0[keyPath: kp]) },
                   set: { (p: inout Policy, s: String) throws(PolicyError) in
                       guard let v = Int(s) else { throw PolicyError.badValue(key: name, message: "\"\(s)\" is not an integer") }
                       p[keyPath: kp] = v
                   })
    }

    static func pick<E: RawRepresentable & CaseIterable & Sendable>(_ name: String, _ help: String,
                                                                   _ kp: WritableKeyPath<Policy, E> & Sendable) -> PolicyKnob where E.RawValue == String {
        PolicyKnob(name: name, unit: E.allCases.map(\.rawValue).joined(separator: "|"), help: help,
                   get: { $0[keyPath: kp].rawValue },
                   set: { (p: inout Policy, s: String) throws(PolicyError) in p[keyPath: kp] = try choice(name, s, E.self) })
    }

    /// A knob that picks an implementation of a policy family by its registry name.
    static func family<F: PolicyFamily>(_ name: String, _ help: String,
                                        _ kp: WritableKeyPath<Policy, ImplementationName<F>> & Sendable) -> PolicyKnob {
        PolicyKnob(name: name, unit: F.names.joined(separator: "|"), help: help,
                   get: { $0[keyPath: kp].rawValue },
                   set: { (p: inout Policy, s: String) throws(PolicyError) in
                       guard F.isRegistered(s) else {
                           throw PolicyError.badValue(key: name, message: "\"\(s)\" is not one of \(F.names.joined(separator: ", "))")
                       }
                       p[keyPath: kp] = ImplementationName(rawValue: s)
                   })
    }

    /// Every knob, in the order `policy show` prints them.
    public static let all: [PolicyKnob] = [
        family("sharing", "content-based page sharing: on (ESX random scan), ksm (KSM-style ordered scan, checksum-stable pages), zero-only, off", \.sharing),
        pick("salting", "share only between VMs of the same salt (--vm ID:salt=N; default each VM's own id: intra-VM only)", \.salting),
        num("shareScanVM", "pages/s", "sharing scan rate per VM", \.shareScanVM),
        num("shareScanTotal", "pages/s", "sharing scan rate cap for the whole host", \.shareScanTotal),
        int("hashBits", "bits of the content hash the sharing table keys on (1-64)", \.hashBits),
        int("sampleSize", "pages sampled per VM per sample period", \.sampleSize),
        dur("samplePeriod", "idle sampling period", \.samplePeriod),
        num("slowGain", "", "slow EWMA gain of the idle estimator", \.slowGain),
        num("fastGain", "", "fast EWMA gain of the idle estimator", \.fastGain),
        family("estimator", "active-memory estimator: sampled (ESX), damon (DAMON-style regions), or the trace's true working set", \.estimator),
        dur("damonAggregate", "estimator=damon: aggregation interval (one sample per region per second)", \.damonAggregate),
        int("damonMinRegions", "estimator=damon: fewest regions (the initial split)", \.damonMinRegions),
        int("damonMaxRegions", "estimator=damon: most regions", \.damonMaxRegions),
        num("idleTax", "", "idle memory tax rate tau, 0 <= tau < 1", \.idleTax),
        dur("balancePeriod", "periodic target recomputation", \.balancePeriod),
        num("highFree", "of M", "high free-memory threshold", \.highFree),
        num("softFree", "of M", "soft free-memory threshold", \.softFree),
        num("hardFree", "of M", "hard free-memory threshold", \.hardFree),
        num("lowFree", "of M", "low free-memory threshold", \.lowFree),
        num("hysteresis", "of M", "extra margin before going back up a state", \.hysteresis),
        family("memoryStates", "free-memory states: paper (high/soft/hard/low at the four knobs above) or vsphere6 (high/clear/soft/hard/low at 400/100/64/32/16% of minFree; the knobs above unused)", \.memoryStates),
        pick("balloon", "balloon driver present in every VM", \.balloon),
        num("maxBalloon", "of max", "largest balloon as a fraction of the VM's max", \.maxBalloon),
        num("balloonRate", "pages/s", "balloon inflation rate per driver", \.balloonRate),
        pick("freePageReporting", "hand whole aligned 2 MiB blocks the guest freed back to the host (virtio-balloon free page reporting)", \.freePageReporting),
        dur("freePageDelay", "how long a freed block stays free before it is reported", \.freePageDelay),
        num("freePageBlock", "KiB", "the aligned block free page reporting hands back whole", \.freePageBlock),
        family("largePages", "back wholly backed aligned 2 MiB blocks with large pages: not shared, ballooned or swapped until split", \.largePages),
        num("largePageBreakFree", "of M", "largePages=on, memoryStates=paper: free memory below which the host splits every large page (vsphere6: below its high threshold)", \.largePageBreakFree),
        family("compression", "compress pages on their way to swap; those that shrink enough stay in a per-VM cache", \.compression),
        num("compressionThreshold", "of a page", "compression=on: the largest compressed size the cache takes", \.compressionThreshold),
        num("compressionCache", "of max", "compression=on: the cache's size per VM", \.compressionCache),
        family("swapVictim", "host paging victim choice", \.swapVictim),
        num("overhead", "MiB", "per-VM overhead memory", \.overhead),
        num("sharesPerMiB", "", "default shares per MiB of max", \.sharesPerMiB),
        num("minFraction", "of max", "default min as a fraction of max", \.minFraction),
        num("costHiddenFault", "µs", "cost model: a hidden fault (trap + shadow/pmap work)", \.costHiddenFault),
        num("costPageCopy", "µs", "cost model: a copy-on-write page copy", \.costPageCopy),
        num("costScanPage", "µs", "cost model: hashing one scanned page", \.costScanPage),
        num("costBalloonPage", "µs", "cost model: one page into or out of a balloon", \.costBalloonPage),
        num("costGuestRefault", "µs", "cost model: the guest reading back a page it gave its balloon (guest disk read)", \.costGuestRefault),
        num("costSwapOut", "µs", "cost model: one host page-out (clustered write)", \.costSwapOut),
        num("costSwapIn", "µs", "cost model: one host swap-in (disk read the VM waits for)", \.costSwapIn),
        num("costCompress", "µs", "cost model: compressing one page into the compression cache", \.costCompress),
        num("costDecompress", "µs", "cost model: decompressing one page the VM touched (tens of µs)", \.costDecompress),
        PolicyKnob(name: "seed", unit: "", help: "the one seed every random choice derives from",
                   get: { String($0.seed) },
                   set: { (p: inout Policy, s: String) throws(PolicyError) in
                       guard let v = UInt64(s) else { throw PolicyError.badValue(key: "seed", message: "\"\(s)\" is not an unsigned integer") }
                       p.seed = v
                   }),
    ]

    public static func knob(_ name: String) -> PolicyKnob? { all.first { $0.name == name } }

    public static func set(_ key: String, _ value: String, on p: inout Policy) throws(PolicyError) {
        guard let k = knob(key) else { throw PolicyError.unknownKnob(key) }
        try k.set(&p, value)
    }

    /// Applies `k=v,k=v`.
    public static func apply(assignments: String, to p: inout Policy) throws(PolicyError) {
        for part in assignments.split(separator: ",", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw PolicyError.badValue(key: String(part), message: "expected key=value") }
            try set(kv[0].trimmingCharacters(in: .whitespaces), kv[1].trimmingCharacters(in: .whitespaces), on: &p)
        }
    }

    /// `--policy` argument: a preset name, `PRESET,k=v,…` (knobs on top of a preset), a JSON
    /// file, or `k=v,…` on top of `esx`. The name says what it is: the preset, then " + " and the
    /// knobs set on top of it ("no-tax", "esx + idleTax=0.3", "swap-only + sharing=off"), or
    /// the file's path.
    public static func resolve(_ spec: String) throws(PolicyError) -> (name: String, policy: Policy) {
        if let preset = Presets.named(spec) { return (preset.name, preset.policy) }
        if spec.contains("=") {
            let parts = spec.split(separator: ",", maxSplits: 1).map(String.init)
            var base = Presets.named("esx")!
            var rest = spec
            if let first = parts.first, !first.contains("=") {
                guard let p = Presets.named(first) else { throw PolicyError.unknownPreset(first) }
                base = p
                rest = parts.count > 1 ? parts[1] : ""
            }
            var p = base.policy
            try apply(assignments: rest, to: &p)
            return (rest.isEmpty ? base.name : base.name + " + " + rest, p)
        }
        if FileManager.default.fileExists(atPath: spec) {
            let size = (try? FileManager.default.attributesOfItem(atPath: spec)[.size] as? UInt64) ?? 0
            guard size <= 1 << 20 else { throw PolicyError.badFile(path: spec, message: "\(size) bytes; a policy file is at most 1 MiB") }
            guard let data = FileManager.default.contents(atPath: spec) else {
                throw PolicyError.badFile(path: spec, message: "cannot read")
            }
            let p = try fromJSON(data, path: spec)
            do { try p.validate() } catch { throw PolicyError.badFile(path: spec, message: error.description) }
            return (spec, p)
        }
        throw PolicyError.unknownPreset(spec)
    }

    /// A JSON object of knob names to values (strings or numbers); missing knobs keep defaults.
    public static func fromJSON(_ data: Data, path: String) throws(PolicyError) -> Policy {
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: data) } catch {
            throw PolicyError.badFile(path: path, message: "not valid JSON")
        }
        guard let dict = obj as? [String: Any] else { throw PolicyError.badFile(path: path, message: "expected a JSON object of knob values") }
        var p = Policy()
        for key in dict.keys.sorted() {
            let v = dict[key]!
            let s: String
            if let n = v as? NSNumber, !(v is Bool) { s = n.stringValue } else if let t = v as? String { s = t } else {
                throw PolicyError.badFile(path: path, message: "\(key): expected a number or a string")
            }
            do { try set(key, s, on: &p) } catch { throw PolicyError.badFile(path: path, message: error.description) }
        }
        return p
    }
}

/// Named policies for `--policy NAME`. A preset is one line here.
public struct Preset: Sendable {
    public let name: String
    public let summary: String
    public let policy: Policy
}

public enum Presets {
    static func with(_ f: (inout Policy) -> Void) -> Policy {
        var p = Policy()
        f(&p)
        return p
    }

    public static let all: [Preset] = [
        Preset(name: "esx", summary: "every default: the paper's ESX Server", policy: Policy()),
        Preset(name: "no-sharing", summary: "content-based sharing off", policy: with { $0.sharing = .off }),
        Preset(name: "esx-salted", summary: "sharing only within a VM or a salt group (ESXi's default since 2015)", policy: with { $0.salting = .on }),
        Preset(name: "zero-only", summary: "share zero pages only", policy: with { $0.sharing = .zeroOnly }),
        Preset(name: "no-tax", summary: "idle memory tax 0 (pure shares)", policy: with { $0.idleTax = 0 }),
        Preset(name: "swap-only", summary: "no balloon drivers: host paging only", policy: with { $0.balloon = .off }),
        Preset(name: "lru-swap", summary: "host paging picks LRU victims", policy: with { $0.swapVictim = .lru }),
        Preset(name: "oracle", summary: "allocation uses the trace's true working sets", policy: with { $0.estimator = .oracle }),
        Preset(name: "ksm", summary: "KSM-style sharing: every page in order, checksum-stable pages only, 5,000 pages/s",
               policy: with { $0.sharing = .ksm; $0.shareScanVM = 5000; $0.shareScanTotal = 5000 }),
        Preset(name: "esx-modern", summary: "ESXi 6 and later: salting, large pages, vSphere 6 memory states, compression cache",
               policy: with { $0.salting = .on; $0.largePages = .on; $0.memoryStates = .vsphere6; $0.compression = .on }),
    ]

    public static func named(_ n: String) -> Preset? { all.first { $0.name == n } }

    /// The preset a `--policy` argument starts from: the preset itself, the one before the
    /// first comma of `PRESET,k=v,…`, esx for `k=v,…`; nil for a policy file.
    public static func base(of spec: String) -> Preset? {
        if let p = named(spec) { return p }
        guard spec.contains("=") else { return nil }
        let first = String(spec.split(separator: ",", maxSplits: 1).first ?? "")
        return first.contains("=") ? named("esx") : named(first)
    }

    /// The knobs that make `preset` what it is: those it sets otherwise than esx (the seed aside).
    public static func definingKnobs(_ preset: Preset) -> [PolicyKnob] {
        PolicyKnobs.all.filter { $0.name != "seed" && $0.value(of: preset.policy) != $0.value(of: Policy()) }
    }

    /// `p`'s knobs that differ from esx (the paper's defaults), as `k=v`, in `policy show`
    /// order, the seed aside.
    public static func changes(_ p: Policy) -> [String] {
        PolicyKnobs.all.filter { $0.name != "seed" && $0.value(of: p) != $0.value(of: Policy()) }.map { "\($0.name)=\($0.value(of: p))" }
    }
}

extension PolicyKnob {
    /// The knob's value in `p`, as `policy show` prints it.
    public func value(of p: Policy) -> String { get(p) }
}
