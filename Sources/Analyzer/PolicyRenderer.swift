import Foundation
import Replay

/// `policy show`: every knob with its value, unit and meaning, the implementations of each
/// policy family (from their registries), and the presets.
public enum PolicyRenderer {
    public static func text(_ p: Policy, title: String) -> String {
        var rows: [[String]] = [["knob", "value", "unit", "meaning"]]
        let esx = Policy()
        var changed = false
        for k in PolicyKnobs.all {
            let differs = k.value(of: p) != k.value(of: esx) && k.name != "seed"
            changed = changed || differs
            rows.append([k.name, k.value(of: p) + (differs ? " *" : ""), k.unit, k.help])
        }
        var s = "\(title)\n" + TextTable.render(rows)
        if changed { s += "* differs from the esx preset (the paper's defaults)\n" }
        var impl: [[String]] = [["family knob", "implementation", "what it does"]]
        for family in PolicyFamilies.all {
            for (i, m) in family.implementations.enumerated() {
                impl.append([i == 0 ? family.knob : "", m.name, m.summary])
            }
        }
        s += "\nImplementations (a family knob picks one by name):\n" + TextTable.render(impl)
        s += "\nPresets: " + Presets.all.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ") + "\n"
        return s
    }

    /// One knob: its meaning, unit, default (the esx preset) and every preset that sets it
    /// otherwise.
    public static func knobText(_ k: PolicyKnob) -> String {
        var s = "knob \(k.name): \(k.help)\n"
        if !k.unit.isEmpty { s += "unit: \(k.unit)\n" }
        s += "default: \(k.value(of: Policy())) (the esx preset)\n"
        let others = Presets.all.filter { k.value(of: $0.policy) != k.value(of: Policy()) }
        s +=
            others.isEmpty
            ? "no preset changes it\n"
            : "presets that change it: " + others.map { "\($0.name) \(k.value(of: $0.policy))" }.joined(separator: ", ")
                + "\n"
        s += "set it with --set \(k.name)=VALUE, or sweep it in compare with --sweep \(k.name)=V1,V2,…\n"
        return s
    }

    public static func knobJSON(_ k: PolicyKnob) -> String {
        struct Out: Encodable {
            var name: String; var unit: String; var help: String; var defaultValue: String;
            var presets: [String: String]
        }
        let others = Presets.all.filter { k.value(of: $0.policy) != k.value(of: Policy()) }
        let out = Out(
            name: k.name, unit: k.unit, help: k.help, defaultValue: k.value(of: Policy()),
            presets: Dictionary(uniqueKeysWithValues: others.map { ($0.name, k.value(of: $0.policy)) }))
        return String(decoding: try! JSONEncoder.canonical(pretty: true).encode(out), as: UTF8.self) + "\n"
    }

    public static func json(_ p: Policy) -> String {
        String(decoding: try! JSONEncoder.canonical(pretty: true).encode(p), as: UTF8.self) + "\n"
    }
}
