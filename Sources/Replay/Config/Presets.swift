import Foundation

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
        Preset(
            name: "esx-salted", summary: "sharing only within a VM or a salt group (ESXi's default since 2015)",
            policy: with { $0.salting = .on }),
        Preset(name: "zero-only", summary: "share zero pages only", policy: with { $0.sharing = .zeroOnly }),
        Preset(name: "no-tax", summary: "idle memory tax 0 (pure shares)", policy: with { $0.idleTax = 0 }),
        Preset(name: "swap-only", summary: "no balloon drivers: host paging only", policy: with { $0.balloon = .off }),
        Preset(name: "lru-swap", summary: "host paging picks LRU victims", policy: with { $0.swapVictim = .lru }),
        Preset(
            name: "oracle", summary: "allocation uses the trace's true working sets",
            policy: with { $0.estimator = .oracle }),
        Preset(
            name: "ksm", summary: "KSM-style sharing: every page in order, checksum-stable pages only, 5,000 pages/s",
            policy: with {
                $0.sharing = .ksm; $0.shareScanVM = 5000; $0.shareScanTotal = 5000
            }),
        Preset(
            name: "esx-modern",
            summary: "ESXi 6 and later: salting, large pages, vSphere 6 memory states, compression cache",
            policy: with {
                $0.salting = .on; $0.largePages = .on; $0.memoryStates = .vsphere6; $0.compression = .on
            }),
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
        PolicyKnobs.all.filter { $0.name != "seed" && $0.value(of: p) != $0.value(of: Policy()) }.map {
            "\($0.name)=\($0.value(of: p))"
        }
    }
}
