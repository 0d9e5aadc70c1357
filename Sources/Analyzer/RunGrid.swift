import Foundation
import Replay
import TraceFormat

/// Policies × sweeps, as `compare` and `study` expand them: every policy (in the order given)
/// at every cell of the grid, the last sweep varying fastest, each run named
/// "POLICY k1=v1 k2=v2".
public enum RunGrid {
    /// A problem with a policy, a sweep or a host setting, said in the caller's words
    /// (`context`: "--sweep", "policies[1]").
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// One swept key and its values, in the order given.
    public struct Sweep: Sendable, Equatable {
        public var key: String
        public var values: [String]
        public init(key: String, values: [String]) { self.key = key; self.values = values }
    }

    /// Keys a sweep may name besides the knobs.
    public static let hostKeys: Set<String> = ["host-memory", "overcommit"]

    /// `key=v1,v2,…`, checked: a known key, no empty value.
    public static func parseSweep(_ s: String) throws(Problem) -> Sweep {
        let kv = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[1].isEmpty else { throw Problem("\(s): expected key=v1,v2,…") }
        let values = kv[1].split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
        return try checkSweep(Sweep(key: kv[0].trimmingCharacters(in: .whitespaces), values: values))
    }

    public static func checkSweep(_ s: Sweep) throws(Problem) -> Sweep {
        guard !s.values.isEmpty, !s.values.contains(where: \.isEmpty) else { throw Problem("\(s.key): an empty value") }
        guard hostKeys.contains(s.key) || s.key == "seed" || PolicyKnobs.knob(s.key) != nil else {
            let near =
                Suggest.nearest(s.key, among: hostKeys.sorted() + ["seed"] + PolicyKnobs.all.map(\.name)).map {
                    "did you mean \($0)? "
                } ?? ""
            throw Problem(
                "\(s.key): not a knob, host-memory, overcommit or seed; \(near)(`tracetool policy show` lists the knobs)"
            )
        }
        return s
    }

    /// Checks a list of sweeps together: no key twice, at most one host-memory key.
    public static func checkTogether(_ sweeps: [Sweep]) throws(Problem) {
        var seen: Set<String> = []
        for s in sweeps {
            if seen.contains(s.key) { throw Problem("\(s.key) given twice; give its values once") }
            seen.insert(s.key)
        }
        if sweeps.filter({ hostKeys.contains($0.key) }).count > 1 {
            throw Problem("host-memory and overcommit both set the host's memory; sweep one")
        }
    }

    /// Resolves a policy as `--policy` takes it (a preset, a JSON file, or key=value,… on top of
    /// esx), then applies `assignments` (key=value,…) and a seed.
    public static func policy(
        _ p: String, assignments: [String], seed: UInt64?
    ) throws(PolicyError) -> (name: String, policy: Policy) {
        var r = try PolicyKnobs.resolve(p)
        for a in assignments { try PolicyKnobs.apply(assignments: a, to: &r.policy) }
        if let seed { r.policy.seed = seed }
        try r.policy.validate()
        return (
            assignments.isEmpty
                ? r.name : r.name + (r.name.contains(" + ") ? "," : " + ") + assignments.joined(separator: ","),
            r.policy
        )
    }

    /// `run` with swept `key` set to `v`, named after it. A knob that defines the run's preset
    /// (one it sets otherwise than esx: idleTax for no-tax) is refused: the column would be named
    /// after a preset it no longer is.
    public static func apply(_ key: String, _ v: String, to run: PolicyRun) throws(Problem) -> PolicyRun {
        if let base = run.policyName.components(separatedBy: " + ").first, let preset = Presets.named(base),
            let knob = Presets.definingKnobs(preset).first(where: { $0.name == key })
        {
            throw Problem(
                "\(key): the preset \(preset.name) is defined by \(key)=\(knob.value(of: preset.policy)), so sweeping it would make \(preset.name) another policy; sweep \(key) on --policy esx (or give each variant as --policy \(preset.name),\(key)=…)"
            )
        }
        var r = run
        r.name = "\(run.name) \(key)=\(v)"
        r.cell.append(SweepSetting(key: key, value: v))
        switch key {
        case "host-memory":
            do { _ = try Units.parseSize(v) } catch { throw Problem("host-memory: \(error.description)") }
            r.spec.memory = .size(v)
        case "overcommit":
            guard let x = Double(v), x > 0, x.isFinite else {
                throw Problem("overcommit: \"\(v)\" is not a positive number")
            }
            r.spec.memory = .overcommit(x)
        case "seed":
            guard let s = UInt64(v) else { throw Problem("seed: \"\(v)\" is not an unsigned integer") }
            r.policy.seed = s
        default:
            do {
                try PolicyKnobs.set(key, v, on: &r.policy)
                try r.policy.validate()
            } catch { throw Problem(error.description) }
        }
        return r
    }

    /// Every base run at every cell of the grid (the last sweep varies fastest).
    public static func expand(_ base: [PolicyRun], sweeps: [Sweep]) throws(Problem) -> [PolicyRun] {
        var runs = base
        for sweep in sweeps {
            var next: [PolicyRun] = []
            for b in runs {
                for v in sweep.values { next.append(try apply(sweep.key, v, to: b)) }
            }
            runs = next
        }
        return runs
    }

    /// Every run once per seed that `seeds` gives for it, in that order: named
    /// "NAME seed=S", the k-th seed's run marked replicate k (summaries group them).
    public static func replicate(_ runs: [PolicyRun], seeds: (PolicyRun) -> [UInt64]) -> [PolicyRun] {
        runs.flatMap { r in
            seeds(r).enumerated().map { k, s in
                var x = r
                x.policy.seed = s
                x.name = "\(r.name) seed=\(s)"
                x.replicate = k
                return x
            }
        }
    }
}
