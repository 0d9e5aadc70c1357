import Foundation
import Replay
import TraceFormat

/// What users type, on arbitrary text: sizes, durations, knob assignments, policy JSON, --vm
/// settings, and a host resolved from them. Each must give a value or an error, never a trap.
func check(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    _ = try? Units.parseSize(text)
    _ = Units.parseDuration(text)
    var p = Policy()
    if (try? PolicyKnobs.apply(assignments: text, to: &p)) != nil { _ = try? p.validate() }
    _ = try? PolicyKnobs.fromJSON(Data(data), path: "fuzz.json")
    var spec = HostSpec()
    for part in text.split(separator: "\n") { _ = try? spec.addVMOverride(String(part)) }
    if let r = Double(text.prefix(24)) { spec.memory = .overcommit(r) } else { spec.memory = .size(String(text.prefix(32))) }
    let header = TraceHeader(vms: [VMDecl(id: 0, name: "a", pages: 1 << 20), VMDecl(id: 1, name: "b", pages: 4096)],
                             capture: CaptureFacts(source: "fuzz"))
    if (try? p.validate()) != nil, let host = try? HostConfig.resolve(header: header, policy: p, spec: spec) {
        _ = try? ReplayEngine(host: host, policy: p)
    }
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
