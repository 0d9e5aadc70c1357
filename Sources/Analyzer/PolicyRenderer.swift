import Foundation
import Replay

/// `policy show`: every knob with its value, unit and meaning, the implementations of each
/// policy family (from their registries), and the presets.
public enum PolicyRenderer {
    public static func text(_ p: Policy, title: String) -> String {
        var rows: [[String]] = [["knob", "value", "unit", "meaning"]]
        for k in PolicyKnobs.all {
            rows.append([k.name, k.value(of: p), k.unit, k.help])
        }
        var s = "\(title)\n" + TextTable.render(rows)
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

    public static func json(_ p: Policy) -> String {
        String(decoding: try! JSONEncoder.canonical(pretty: true).encode(p), as: UTF8.self) + "\n"
    }
}
