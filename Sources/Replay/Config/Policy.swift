import Foundation
import TraceFormat

/// Every knob of the model, with the paper's defaults (docs/MODEL.md lists their sources). The
/// names are the ones users type with `--set key=value` and in JSON policy files. The paper's
/// core knobs are stored properties here; the knobs of the families and mechanisms added since
/// (Registrations) are declared by their registrations (`PolicyKnob`) and kept by name in
/// `extra`, each with a typed accessor beside its owner's code.
public struct Policy: Equatable, Sendable {
    public enum Switch: String, Codable, Sendable, CaseIterable { case on, off }

    /// The sharing scanner, by registry name (SharingScanners: on, off, zero-only, ksm).
    public var sharing: SharingName = .on
    public var shareScanVM: Double = 50
    public var shareScanTotal: Double = 200
    public var hashBits: Int = 64
    public var sampleSize: Int = 100
    public var samplePeriod: Double = 30
    public var slowGain: Double = 0.25
    public var fastGain: Double = 0.75
    /// The activity estimator targets use, by registry name (ActivityEstimators).
    public var estimator: EstimatorName = .sampled
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
    /// The registered knobs' values by name, every one present (its default unless set).
    public internal(set) var extra: [String: KnobValue]

    public init() {
        var e: [String: KnobValue] = [:]
        for k in PolicyKnobs.registered { if let v = k.initial { e[k.name] = v } }
        extra = e
    }

    /// The largest scan or balloon rate accepted, pages/s (a sweep of a 2^32-page VM in ~4 s).
    public static let maxRate: Double = 1e9
    /// The longest sample or balance period accepted, s (about 115 days).
    public static let maxPeriod: Double = 1e7

    /// A registered knob's value (its registration's typed accessor reads through these).
    public func number(_ key: String) -> Double {
        switch extra[key] {
        case .number(let v)?: return v
        case .integer(let v)?: return Double(v)
        default: preconditionFailure("knob \(key) is not a registered number")
        }
    }

    public func integer(_ key: String) -> Int {
        guard case .integer(let v)? = extra[key] else { preconditionFailure("knob \(key) is not a registered integer") }
        return v
    }

    public func name(_ key: String) -> String {
        guard case .name(let v)? = extra[key] else { preconditionFailure("knob \(key) is not a registered name") }
        return v
    }

    /// Sets a registered knob (typed accessors use it; text goes through `PolicyKnobs.set`).
    public mutating func setExtra(_ key: String, _ v: KnobValue) {
        precondition(PolicyKnobs.knob(key)?.initial != nil, "knob \(key) is not registered")
        extra[key] = v
    }

    /// Checks every knob's rule, then the rules across knobs; the error names the knob.
    public func validate() throws(PolicyError) {
        for k in PolicyKnobs.all { try k.check(self) }
        for r in PolicyKnobs.rules { try r.check(self) }
    }
}

extension Policy: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// One flat object of every knob (JSON sorts the keys): the core knobs as their types
    /// encode, the registered ones as numbers, integers or names.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(sharing, forKey: Key("sharing"))
        try c.encode(shareScanVM, forKey: Key("shareScanVM"))
        try c.encode(shareScanTotal, forKey: Key("shareScanTotal"))
        try c.encode(hashBits, forKey: Key("hashBits"))
        try c.encode(sampleSize, forKey: Key("sampleSize"))
        try c.encode(samplePeriod, forKey: Key("samplePeriod"))
        try c.encode(slowGain, forKey: Key("slowGain"))
        try c.encode(fastGain, forKey: Key("fastGain"))
        try c.encode(estimator, forKey: Key("estimator"))
        try c.encode(idleTax, forKey: Key("idleTax"))
        try c.encode(balancePeriod, forKey: Key("balancePeriod"))
        try c.encode(highFree, forKey: Key("highFree"))
        try c.encode(softFree, forKey: Key("softFree"))
        try c.encode(hardFree, forKey: Key("hardFree"))
        try c.encode(lowFree, forKey: Key("lowFree"))
        try c.encode(hysteresis, forKey: Key("hysteresis"))
        try c.encode(memoryStates, forKey: Key("memoryStates"))
        try c.encode(balloon, forKey: Key("balloon"))
        try c.encode(maxBalloon, forKey: Key("maxBalloon"))
        try c.encode(balloonRate, forKey: Key("balloonRate"))
        try c.encode(swapVictim, forKey: Key("swapVictim"))
        try c.encode(overhead, forKey: Key("overhead"))
        try c.encode(sharesPerMiB, forKey: Key("sharesPerMiB"))
        try c.encode(minFraction, forKey: Key("minFraction"))
        try c.encode(seed, forKey: Key("seed"))
        try c.encode(costHiddenFault, forKey: Key("costHiddenFault"))
        try c.encode(costPageCopy, forKey: Key("costPageCopy"))
        try c.encode(costScanPage, forKey: Key("costScanPage"))
        try c.encode(costBalloonPage, forKey: Key("costBalloonPage"))
        try c.encode(costGuestRefault, forKey: Key("costGuestRefault"))
        try c.encode(costSwapOut, forKey: Key("costSwapOut"))
        try c.encode(costSwapIn, forKey: Key("costSwapIn"))
        for (k, v) in extra {
            switch v {
            case .number(let d): try c.encode(d, forKey: Key(k))
            case .integer(let i): try c.encode(i, forKey: Key(k))
            case .name(let s): try c.encode(s, forKey: Key(k))
            }
        }
    }

    /// Reads what `encode` writes; a knob that is missing keeps its default.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: Key.self)
        func get<T: Decodable>(_ k: String, _ v: inout T) throws {
            if let x = try c.decodeIfPresent(T.self, forKey: Key(k)) { v = x }
        }
        try get("sharing", &sharing)
        try get("shareScanVM", &shareScanVM)
        try get("shareScanTotal", &shareScanTotal)
        try get("hashBits", &hashBits)
        try get("sampleSize", &sampleSize)
        try get("samplePeriod", &samplePeriod)
        try get("slowGain", &slowGain)
        try get("fastGain", &fastGain)
        try get("estimator", &estimator)
        try get("idleTax", &idleTax)
        try get("balancePeriod", &balancePeriod)
        try get("highFree", &highFree)
        try get("softFree", &softFree)
        try get("hardFree", &hardFree)
        try get("lowFree", &lowFree)
        try get("hysteresis", &hysteresis)
        try get("memoryStates", &memoryStates)
        try get("balloon", &balloon)
        try get("maxBalloon", &maxBalloon)
        try get("balloonRate", &balloonRate)
        try get("swapVictim", &swapVictim)
        try get("overhead", &overhead)
        try get("sharesPerMiB", &sharesPerMiB)
        try get("minFraction", &minFraction)
        try get("seed", &seed)
        try get("costHiddenFault", &costHiddenFault)
        try get("costPageCopy", &costPageCopy)
        try get("costScanPage", &costScanPage)
        try get("costBalloonPage", &costBalloonPage)
        try get("costGuestRefault", &costGuestRefault)
        try get("costSwapOut", &costSwapOut)
        try get("costSwapIn", &costSwapIn)
        for k in PolicyKnobs.registered {
            switch k.initial {
            case .number?:
                if let d = try c.decodeIfPresent(Double.self, forKey: Key(k.name)) { extra[k.name] = .number(d) }
            case .integer?:
                if let i = try c.decodeIfPresent(Int.self, forKey: Key(k.name)) { extra[k.name] = .integer(i) }
            case .name?: if let s = try c.decodeIfPresent(String.self, forKey: Key(k.name)) { extra[k.name] = .name(s) }
            case nil: break
            }
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
            return
                "unknown knob \"\(k)\"; `tracetool policy show` lists them (\(PolicyKnobs.all.map(\.name).joined(separator: ", ")))"
        case .badValue(let k, let m): return "\(k): \(m)"
        case .unknownPreset(let p):
            let near = Suggest.nearest(p, among: Presets.all.map(\.name)).map { "; did you mean \($0)? A" } ?? "; a"
            return
                "unknown policy \"\(p)\"\(near) policy is a preset (\(Presets.all.map(\.name).joined(separator: ", "))), PRESET,key=value,…, a JSON file or key=value,…"
        case .badFile(let p, let m): return "\(p): \(m)"
        }
    }
}

public enum PolicyKnobs {
    typealias K = PolicyKnob

    /// The paper's core knobs, over `Policy`'s stored properties, in the order `policy show`
    /// lists them (registered knobs go in after their anchors).
    static let core: [PolicyKnob] = [
        K.coreFamily(
            "content-based page sharing: on (ESX random scan), ksm (KSM-style ordered scan, checksum-stable pages), zero-only, off",
            \.sharing),
        K.core("shareScanVM", "pages/s", "sharing scan rate per VM", \.shareScanVM, range: 0...Policy.maxRate),
        K.core(
            "shareScanTotal", "pages/s", "sharing scan rate cap for the whole host", \.shareScanTotal,
            range: 0...Policy.maxRate),
        K.coreInteger("hashBits", "bits of the content hash the sharing table keys on (1-64)", \.hashBits) {
            (1...64).contains($0) ? nil : "must be in [1, 64]"
        },
        K.coreInteger("sampleSize", "pages sampled per VM per sample period", \.sampleSize) {
            $0 >= 1 && $0 <= 1 << 32
                ? nil : "must be in [1, 4294967296] pages (more than a VM's pages samples all of them)"
        },
        K.coreDuration("samplePeriod", "idle sampling period", \.samplePeriod, range: 1...Policy.maxPeriod),
        K.core("slowGain", "", "slow EWMA gain of the idle estimator", \.slowGain, range: 0...1),
        K.core("fastGain", "", "fast EWMA gain of the idle estimator", \.fastGain, range: 0...1),
        K.coreFamily(
            "active-memory estimator: sampled (ESX), damon (DAMON-style regions), or the trace's true working set",
            \.estimator),
        K(
            name: "idleTax", unit: "", help: "idle memory tax rate tau, 0 <= tau < 1", after: nil, initial: nil,
            get: { K.fmt($0.idleTax) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p.idleTax = try K.number(s, "idleTax") },
            check: { (p: Policy) throws(PolicyError) in
                guard p.idleTax.isFinite && p.idleTax >= 0 && p.idleTax < 1 else {
                    throw .badValue(key: "idleTax", message: "must be in [0, 1)")
                }
            }),
        K.coreDuration("balancePeriod", "periodic target recomputation", \.balancePeriod, range: 1...Policy.maxPeriod),
        K.core("highFree", "of M", "high free-memory threshold", \.highFree, range: 0...0.5),
        K.core("softFree", "of M", "soft free-memory threshold", \.softFree, range: 0...1),
        K.core("hardFree", "of M", "hard free-memory threshold", \.hardFree, range: 0...1),
        K.core("lowFree", "of M", "low free-memory threshold", \.lowFree, range: 0...1),
        K(
            name: "hysteresis", unit: "of M", help: "extra margin before going back up a state", after: nil,
            initial: nil,
            get: { K.fmt($0.hysteresis) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p.hysteresis = try K.number(s, "hysteresis") },
            check: { (p: Policy) throws(PolicyError) in
                guard p.hysteresis.isFinite && p.hysteresis >= 0 && p.hysteresis < 1 else {
                    throw .badValue(key: "hysteresis", message: "must be in [0, 1)")
                }
            }),
        K.coreFamily(
            "free-memory states: paper (high/soft/hard/low at the four knobs above) or vsphere6 (high/clear/soft/hard/low at 400/100/64/32/16% of minFree; the knobs above unused)",
            \.memoryStates),
        K.coreChoice("balloon", "balloon driver present in every VM", \.balloon),
        K.core(
            "maxBalloon", "of max", "largest balloon as a fraction of the VM's max", \.maxBalloon, range: 0...1,
            rangeUnit: ""),
        K.core("balloonRate", "pages/s", "balloon inflation rate per driver", \.balloonRate, range: 0...Policy.maxRate),
        K.coreFamily("host paging victim choice", \.swapVictim),
        K.core("overhead", "MiB", "per-VM overhead memory", \.overhead, range: 0...1_048_576),
        K.core("sharesPerMiB", "", "default shares per MiB of max", \.sharesPerMiB, range: 0...1_000_000),
        K.core("minFraction", "of max", "default min as a fraction of max", \.minFraction, range: 0...1, rangeUnit: ""),
        K.core(
            "costHiddenFault", "µs", "cost model: a hidden fault (trap + shadow/pmap work)", \.costHiddenFault,
            range: 0...1e9),
        K.core("costPageCopy", "µs", "cost model: a copy-on-write page copy", \.costPageCopy, range: 0...1e9),
        K.core("costScanPage", "µs", "cost model: hashing one scanned page", \.costScanPage, range: 0...1e9),
        K.core(
            "costBalloonPage", "µs", "cost model: one page into or out of a balloon", \.costBalloonPage, range: 0...1e9),
        K.core(
            "costGuestRefault", "µs", "cost model: the guest reading back a page it gave its balloon (guest disk read)",
            \.costGuestRefault, range: 0...1e9),
        K.core("costSwapOut", "µs", "cost model: one host page-out (clustered write)", \.costSwapOut, range: 0...1e9),
        K.core(
            "costSwapIn", "µs", "cost model: one host swap-in (disk read the VM waits for)", \.costSwapIn,
            range: 0...1e9),
        K(
            name: "seed", unit: "", help: "the one seed every random choice derives from", after: nil, initial: nil,
            get: { String($0.seed) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in
                guard let v = UInt64(s) else {
                    throw PolicyError.badValue(key: "seed", message: "\"\(s)\" is not an unsigned integer")
                }
                p.seed = v
            },
            check: { _ throws(PolicyError) in }),
    ]

    /// The rules across the core knobs.
    static let coreRules: [PolicyKnob] = [
        K.rule("highFree") { p in
            0 < p.lowFree && p.lowFree <= p.hardFree && p.hardFree <= p.softFree && p.softFree <= p.highFree
                && p.highFree < 1
                ? nil : "thresholds must satisfy 0 < lowFree ≤ hardFree ≤ softFree ≤ highFree < 1"
        }
    ]

    /// The knobs and rules every registration declares (Registrations.knobs), in registry order.
    static let declared: [PolicyKnob] = Registrations.knobs
    static let registered: [PolicyKnob] = declared.filter { !$0.isRule }

    /// Every knob, in the order `policy show` prints them: the core knobs, each registered knob
    /// right after the knob it names as its anchor (a registration chains its own knobs, so no
    /// two name the same anchor).
    public static let all: [PolicyKnob] = {
        var out = core
        var pending = registered
        precondition(
            Set(pending.compactMap(\.after)).count == pending.count, "two registered knobs name the same anchor")
        while !pending.isEmpty {
            let before = pending.count
            pending.removeAll { k in
                guard let i = out.firstIndex(where: { $0.name == k.after }) else { return false }
                out.insert(k, at: k.listedBefore ? i : i + 1)
                return true
            }
            precondition(pending.count < before, "registered knobs whose anchor is no knob: \(pending.map(\.name))")
        }
        return out
    }()

    /// The rules across knobs: the core's, then every registration's.
    static let rules: [PolicyKnob] = coreRules + declared.filter(\.isRule)

    static func fmt(_ d: Double) -> String { K.fmt(d) }

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
            guard size <= 1 << 20 else {
                throw PolicyError.badFile(path: spec, message: "\(size) bytes; a policy file is at most 1 MiB")
            }
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
        guard let dict = obj as? [String: Any] else {
            throw PolicyError.badFile(path: path, message: "expected a JSON object of knob values")
        }
        var p = Policy()
        for key in dict.keys.sorted() {
            let v = dict[key]!
            let s: String
            if let n = v as? NSNumber, !(v is Bool) {
                s = n.stringValue
            } else if let t = v as? String {
                s = t
            } else {
                throw PolicyError.badFile(path: path, message: "\(key): expected a number or a string")
            }
            do { try set(key, s, on: &p) } catch { throw PolicyError.badFile(path: path, message: error.description) }
        }
        return p
    }
}
