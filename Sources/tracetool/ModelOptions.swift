import Analyzer
import ArgumentParser
import Foundation
import Replay
import TraceFormat

/// The policy options: which policy, knob overrides and the seed.
struct PolicyOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Policy: a preset, a JSON file of knob values, or key=value,… on top of esx.", valueName: "P"))
    var policy: String = "esx"
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Set one knob (repeatable); see `tracetool policy show`.", valueName: "key=value"))
    var assignments: [String] = []
    @Option(help: "Seed for every random choice (overrides the policy's).") var seed: UInt64?

    /// Policy files this command reads (inputs no output may replace).
    var files: [String] { FileManager.default.fileExists(atPath: policy) && !policy.contains("=") ? [policy] : [] }

    /// The policy and its display name.
    func resolve() throws -> (name: String, policy: Policy) {
        do {
            var (name, p) = try PolicyKnobs.resolve(policy)
            for a in assignments { try PolicyKnobs.apply(assignments: a, to: &p) }
            if let seed { p.seed = seed }
            try p.validate()
            if !assignments.isEmpty {
                name += (name.contains(" + ") ? "," : " + ") + assignments.joined(separator: ",")
            }
            return (name, p)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// The host and VM options of a command that runs the model.
struct HostOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Machine memory, e.g. 1GiB, 1.5G, 512M, 4096 pages (K/M/G/T are binary; a bare number is refused). Default: every VM at max + overheads + high threshold.",
            valueName: "SIZE"))
    var hostMemory: String?
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Memory for VMs = sum of max / R (plus overheads).", valueName: "R")
    ) var overcommit: Double?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Swap size, e.g. 2GiB or 100000 pages. Default: sum of (max - min).", valueName: "SIZE"))
    var swap: String?
    @Option(
        name: .customLong("vm"),
        help: ArgumentHelp(
            "Per-VM settings (repeatable; settings for one VM merge; min is a size; salt needs salting=on).",
            valueName: "ID:min=SIZE,shares=N,balloon=on|off,salt=N"))
    var vmOverrides: [String] = []

    func validate() throws {
        if hostMemory != nil && overcommit != nil {
            throw ValidationError("give --host-memory or --overcommit, not both")
        }
        if let r = overcommit, !(r > 0 && r.isFinite) {
            throw ValidationError("--overcommit must be a positive number")
        }
        do {
            if let h = hostMemory { _ = try Units.parseSize(h) }
        } catch { throw ValidationError("--host-memory \(error.description)") }
        do {
            if let s = swap { _ = try Units.parseSize(s) }
        } catch { throw ValidationError("--swap \(error.description)") }
        _ = try spec()
    }

    func spec() throws -> HostSpec {
        var spec = HostSpec()
        if let h = hostMemory { spec.memory = .size(h) }
        if let r = overcommit { spec.memory = .overcommit(r) }
        spec.swap = swap
        do {
            for v in vmOverrides { try spec.addVMOverride(v) }
        } catch { throw ValidationError(error.description) }
        return spec
    }
}
