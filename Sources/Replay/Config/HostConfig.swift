import Foundation
import TraceFormat

/// One VM as the model runs it.
public struct VMConfig: Codable, Equatable, Sendable {
    public var id: UInt32
    public var name: String
    public var maxPages: UInt64
    public var minPages: UInt64
    public var shares: UInt64
    public var overheadPages: UInt64
    public var balloon: Bool
    /// The salt given with `--vm ID:salt=N` (docs/MODEL.md "Salting"), if any.
    public var salt: UInt32? = nil
    /// Off until its first record when that record is a power-on.
    public var startsOff: Bool
}

/// The host as the model runs it.
public struct HostConfig: Codable, Equatable, Sendable {
    public var pageSize: UInt64
    /// Machine memory M, pages.
    public var machinePages: UInt64
    public var swapPages: UInt64
    public var vms: [VMConfig]
    /// How M was chosen: `default`, `host-memory`, or `overcommit`.
    public var memorySource: String
}

/// What the user asked for on the command line about the host and the VMs.
public struct HostSpec: Sendable {
    public enum Memory: Sendable, Equatable {
        /// Room for every VM at max, plus overheads, plus the high threshold: no pressure.
        case automatic
        case pages(UInt64)
        case size(String)
        /// Memory for VMs = Σ max / R.
        case overcommit(Double)
    }
    public struct VMOverride: Sendable, Equatable {
        public var min: String?
        public var shares: UInt64?
        public var balloon: Bool?
        public var salt: UInt32?
        public init(min: String? = nil, shares: UInt64? = nil, balloon: Bool? = nil, salt: UInt32? = nil) {
            self.min = min
            self.shares = shares
            self.balloon = balloon
            self.salt = salt
        }
    }

    public var memory: Memory = .automatic
    public var swap: String?
    public var vms: [UInt32: VMOverride] = [:]
    public init() {}

    /// Parses `ID:min=256MiB,shares=2000,balloon=off,salt=7`.
    public static func parseVMOverride(_ s: String) throws(ConfigError) -> (UInt32, VMOverride) {
        let parts = s.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let id = UInt32(parts[0]) else {
            throw ConfigError("--vm \(s): expected ID:key=value,… (keys: min, shares, balloon, salt)")
        }
        var o = VMOverride()
        for kv in parts[1].split(separator: ",") {
            let p = kv.split(separator: "=", maxSplits: 1).map(String.init)
            guard p.count == 2 else { throw ConfigError("--vm \(s): expected key=value, found \"\(kv)\"") }
            switch p[0] {
            case "min":
                do { _ = try Units.parseSize(p[1]) } catch { throw ConfigError("--vm \(s): min \(error.description)") }
                guard o.min == nil else { throw ConfigError("--vm \(s): min given twice") }
                o.min = p[1]
            case "shares":
                guard let v = UInt64(p[1]) else { throw ConfigError("--vm \(s): shares must be an unsigned integer") }
                guard o.shares == nil else { throw ConfigError("--vm \(s): shares given twice") }
                o.shares = v
            case "balloon":
                guard p[1] == "on" || p[1] == "off" else { throw ConfigError("--vm \(s): balloon must be on or off") }
                guard o.balloon == nil else { throw ConfigError("--vm \(s): balloon given twice") }
                o.balloon = p[1] == "on"
            case "salt":
                guard let v = UInt32(p[1]) else {
                    throw ConfigError("--vm \(s): salt must be an integer in [0, 4294967295]")
                }
                guard o.salt == nil else { throw ConfigError("--vm \(s): salt given twice") }
                o.salt = v
            default: throw ConfigError("--vm \(s): unknown key \"\(p[0])\" (min, shares, balloon, salt)")
            }
        }
        return (id, o)
    }

    /// Adds one `--vm` setting, merging with earlier ones for the same VM
    /// (`--vm 0:min=64MiB --vm 0:shares=5000` sets both); a key given twice is an error.
    public mutating func addVMOverride(_ s: String) throws(ConfigError) {
        let (id, o) = try HostSpec.parseVMOverride(s)
        var cur = vms[id] ?? VMOverride()
        if let m = o.min {
            guard cur.min == nil else { throw ConfigError("--vm \(id): min given twice (\(cur.min!) and \(m))") }
            cur.min = m
        }
        if let v = o.shares {
            guard cur.shares == nil else {
                throw ConfigError("--vm \(id): shares given twice (\(cur.shares!) and \(v))")
            }
            cur.shares = v
        }
        if let b = o.balloon {
            guard cur.balloon == nil else { throw ConfigError("--vm \(id): balloon given twice") }
            cur.balloon = b
        }
        if let v = o.salt {
            guard cur.salt == nil else { throw ConfigError("--vm \(id): salt given twice") }
            cur.salt = v
        }
        vms[id] = cur
    }
}

/// A host or VM setting that cannot be applied. Most come from the command line (a usage
/// error); `inTrace` marks those the trace itself causes (no VMs, mixed page sizes).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public var inTrace: Bool
    public init(_ s: String, inTrace: Bool = false) { description = s; self.inTrace = inTrace }
}

extension HostConfig {
    /// VM ids as ranges, in order ("0–3, 7, 9–12"), at most 12 ranges (then "…").
    public static func idRanges(_ ids: [UInt32]) -> String {
        let sorted = Array(Set(ids)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])–\(sorted[j])")
            i = j + 1
        }
        return parts.count > 12 ? parts.prefix(12).joined(separator: ", ") + ", …" : parts.joined(separator: ", ")
    }

    /// The largest machine memory the model addresses (2^29 pages: 2 TiB of 4 KiB pages).
    public static let maxMachinePages: UInt64 = 1 << 29

    /// Resolves the host and VM settings for `header` under `policy` and `spec`.
    /// `startsOff` lists the VMs whose first record is a power-on.
    public static func resolve(
        header: TraceHeader, policy: Policy, spec: HostSpec,
        startsOff: Set<UInt32> = []
    ) throws(ConfigError) -> HostConfig {
        let pageSize = UInt64(header.pageSize)
        for vm in header.vms where (vm.pageSize.map(UInt64.init) ?? pageSize) != pageSize {
            throw ConfigError(
                "VM \(vm.id) has \(vm.pageSize!)-byte pages and the trace \(pageSize): replay needs one page size",
                inTrace: true)
        }
        guard !header.vms.isEmpty else { throw ConfigError("the trace declares no VMs", inTrace: true) }
        for id in spec.vms.keys.sorted() where header.vm(VMID(id)) == nil {
            throw ConfigError(
                "--vm \(id): the trace has no VM \(id) (its VMs: \(HostConfig.idRanges(header.vms.map(\.id))))")
        }
        let overheadPages = UInt64((policy.overhead * 1_048_576 / Double(pageSize)).rounded(.up))
        var vms: [VMConfig] = []
        for vm in header.vms {
            let o = spec.vms[vm.id] ?? HostSpec.VMOverride()
            var minPages = vm.minPages ?? UInt64((Double(vm.pages) * policy.minFraction).rounded(.down))
            if let m = o.min {
                do { minPages = try Units.parseSize(m).pages(pageSize: pageSize) } catch {
                    throw ConfigError("--vm \(vm.id): min \(error.description)")
                }
            }
            guard minPages <= vm.pages else {
                throw ConfigError("VM \(vm.id): min \(minPages) pages exceeds its max \(vm.pages)")
            }
            let mib = Double(vm.pages * pageSize) / 1_048_576
            let shares = o.shares ?? vm.shares ?? UInt64((mib * policy.sharesPerMiB).rounded())
            if o.salt != nil && policy.salting == .off {
                throw ConfigError("--vm \(vm.id): salt needs salting=on (--set salting=on, or --policy esx-salted)")
            }
            vms.append(
                VMConfig(
                    id: vm.id, name: vm.name, maxPages: vm.pages, minPages: minPages, shares: shares,
                    overheadPages: overheadPages, balloon: o.balloon ?? (policy.balloon == .on),
                    salt: o.salt, startsOff: startsOff.contains(vm.id)))
        }
        let sumMax = vms.reduce(0) { $0 + $1.maxPages }
        let sumOverhead = vms.reduce(0) { $0 + $1.overheadPages }
        var machine: UInt64
        var source = "default"
        /// Pages from a computed size, range-checked before any integer conversion.
        func pages(_ d: Double, _ what: String) throws(ConfigError) -> UInt64 {
            guard d.isFinite, d >= 1, d <= Double(maxMachinePages) else {
                throw ConfigError(
                    "\(what) gives host memory of \(String(format: "%.4g", d)) pages, outside 1…\(maxMachinePages) pages (2 TiB of 4 KiB pages)"
                )
            }
            return UInt64(d.rounded(.up))
        }
        switch spec.memory {
        case .automatic:
            machine = try pages(Double(sumMax + sumOverhead) / (1 - policy.highFree), "the default (every VM at max)")
        case .pages(let p):
            machine = p
            source = "host-memory"
        case .size(let s):
            do { machine = try Units.parseSize(s).pages(pageSize: pageSize) } catch {
                throw ConfigError("--host-memory \(error.description)")
            }
            source = "host-memory"
        case .overcommit(let r):
            guard r > 0, r.isFinite else { throw ConfigError("--overcommit must be a positive number") }
            machine = try pages(Double(sumMax) / r + Double(sumOverhead), "--overcommit \(r)")
            source = "overcommit"
        }
        guard machine >= 1, machine <= maxMachinePages else {
            throw ConfigError("host memory of \(machine) pages is outside 1…\(maxMachinePages) pages")
        }
        var swap = vms.reduce(0) { $0 + ($1.maxPages - $1.minPages) }
        if let s = spec.swap {
            do { swap = try Units.parseSize(s).pages(pageSize: pageSize) } catch {
                throw ConfigError("--swap \(error.description)")
            }
        }
        return HostConfig(pageSize: pageSize, machinePages: machine, swapPages: swap, vms: vms, memorySource: source)
    }
}
