#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One `--attach PID[,name=S][,qmp=PATH]`.
public struct AttachSpec: Equatable, Sendable {
    public var pid: Int32
    public var name: String?
    public var qmp: String?

    public init(pid: Int32, name: String? = nil, qmp: String? = nil) {
        self.pid = pid
        self.name = name
        self.qmp = qmp
    }

    /// Parses `PID[,name=S][,qmp=PATH]`.
    public static func parse(_ text: String) throws(CaptureError) -> AttachSpec {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let pid = Int32(first), pid > 0 else {
            throw CaptureError("--attach \(text): starts with a process id (a positive integer)")
        }
        var spec = AttachSpec(pid: pid)
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[1].isEmpty else {
                throw CaptureError("--attach \(text): \"\(p)\" is not KEY=VALUE")
            }
            switch kv[0] {
            case "name":
                guard kv[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                    throw CaptureError("--attach \(text): a name has letters, digits, - _ . only")
                }
                spec.name = kv[1]
            case "qmp":
                spec.qmp = kv[1]
            default:
                throw CaptureError("--attach \(text): unknown key \"\(kv[0])\" (name, qmp)")
            }
        }
        return spec
    }
}

/// What the capture reads of a running QEMU process: its command line and the host mapping
/// of its guest RAM, from /proc/PID/cmdline and /proc/PID/maps.
public struct QEMUProcess: Sendable {
    public var pid: Int32
    public var commandLine: [String]
    /// The guest RAM's host virtual addresses.
    public var ramStart: UInt64
    public var ramBytes: UInt64
    /// How the mapping was found (for the header's facts).
    public var how: String

    public var pages: Int { Int(ramBytes / 4096) }

    /// The guest's name from QEMU's command line (`-name NAME`, `-name guest=NAME,…`, `--name`),
    /// with characters other than letters, digits, `-`, `_` and `.` made `-`; nil without one.
    public static func guestName(commandLine argv: [String]) -> String? {
        guard let i = argv.lastIndex(where: { $0 == "-name" || $0 == "--name" }), i + 1 < argv.count else {
            return nil
        }
        // QEMU's option syntax: fields split at single commas; ",," is a literal comma.
        var fields: [String] = []
        var cur = ""
        var chars = Array(argv[i + 1])[...]
        while let c = chars.popFirst() {
            if c == "," {
                if chars.first == "," {
                    cur.append(",")
                    chars.removeFirst()
                } else {
                    fields.append(cur)
                    cur = ""
                }
            } else {
                cur.append(c)
            }
        }
        fields.append(cur)
        let raw =
            fields.first(where: { $0.hasPrefix("guest=") }).map { String($0.dropFirst(6)) }
            ?? (fields[0].contains("=") ? nil : fields[0])
        guard let raw, !raw.isEmpty else { return nil }
        let clean = String(
            raw.prefix(64).map { c -> Character in
                c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".") ? c : "-"
            })
        return clean
    }

    /// The guest's memory size from QEMU's command line: `-m SIZE` or `-m size=SIZE,...`
    /// (a bare number is MiB, as QEMU reads it; suffixes K, M, G, T), or else the `size=` of a
    /// `-object memory-backend-*` the machine uses. nil if the command line says neither.
    public static func memoryBytes(commandLine argv: [String]) -> UInt64? {
        func size(_ s: String, defaultUnit: UInt64) -> UInt64? {
            var t = s.trimmingCharacters(in: .whitespaces)
            var unit = defaultUnit
            if let last = t.last, last.isLetter {
                switch last.uppercased() {
                case "B": unit = 1
                case "K": unit = 1 << 10
                case "M": unit = 1 << 20
                case "G": unit = 1 << 30
                case "T": unit = 1 << 40
                default: return nil
                }
                t.removeLast()
            }
            guard let n = UInt64(t), n > 0, n <= (1 << 50) / unit else { return nil }
            return n * unit
        }
        var backend: UInt64?
        var i = 0
        while i < argv.count {
            let a = argv[i]
            let value: String? = i + 1 < argv.count ? argv[i + 1] : nil
            if a == "-m" || a == "--m", let v = value {
                let fields = v.split(separator: ",").map(String.init)
                for f in fields {
                    if f.hasPrefix("size=") { return size(String(f.dropFirst(5)), defaultUnit: 1 << 20) }
                    if !f.contains("=") { return size(f, defaultUnit: 1 << 20) }
                }
            }
            if a == "-object", let v = value, v.hasPrefix("memory-backend") {
                for f in v.split(separator: ",") where f.hasPrefix("size=") {
                    backend = size(String(f.dropFirst(5)), defaultUnit: 1)
                }
            }
            i += 1
        }
        return backend
    }

    /// One line of /proc/PID/maps.
    public struct Mapping: Equatable, Sendable {
        public var start: UInt64
        public var end: UInt64
        public var permissions: String
        public var path: String
        public var bytes: UInt64 { end - start }
    }

    public static func parseMaps(_ text: String) -> [Mapping] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard f.count >= 5 else { return nil }
            let range = f[0].split(separator: "-")
            guard range.count == 2, let s = UInt64(range[0], radix: 16), let e = UInt64(range[1], radix: 16), e > s
            else { return nil }
            let path = f.count == 6 ? String(f[5]).trimmingCharacters(in: .whitespaces) : ""
            return Mapping(start: s, end: e, permissions: String(f[1]), path: path)
        }
    }

    /// The guest RAM among the process's mappings: a readable and writable mapping of exactly
    /// `bytes` (QEMU maps each RAM block in one piece; the lowest address wins if there are
    /// several). Without a size: the largest readable and writable mapping of at least 16 MiB.
    public static func findRAM(_ maps: [Mapping], bytes: UInt64?) -> (Mapping, String)? {
        let rw = maps.filter { $0.permissions.hasPrefix("rw") }
        if let b = bytes {
            if let m = rw.filter({ $0.bytes == b }).min(by: { $0.start < $1.start }) {
                return (
                    m,
                    "the \(b >> 20) MiB mapping at 0x\(String(m.start, radix: 16))\(m.path.isEmpty ? "" : " (\(m.path))")"
                )
            }
            return nil
        }
        guard
            let m = rw.filter({ $0.bytes >= 16 << 20 }).max(by: {
                $0.bytes < $1.bytes || ($0.bytes == $1.bytes && $0.start > $1.start)
            })
        else {
            return nil
        }
        return (
            m,
            "the largest writable mapping, \(m.bytes >> 20) MiB at 0x\(String(m.start, radix: 16)) (the command line gives no memory size)"
        )
    }

    /// Reads a running QEMU's command line and finds its guest RAM.
    public static func inspect(pid: Int32) throws(CaptureError) -> QEMUProcess {
        let base = "/proc/\(pid)"
        guard let raw = FileManager.default.contents(atPath: base + "/cmdline"), !raw.isEmpty else {
            throw CaptureError("process \(pid): no such process, or its command line cannot be read")
        }
        let argv = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let exe = argv.first, (exe as NSString).lastPathComponent.hasPrefix("qemu-system") else {
            throw CaptureError("process \(pid) is not QEMU (its command is \((argv.first ?? "?").prefix(80)))")
        }
        guard let mapsText = try? String(contentsOfFile: base + "/maps", encoding: .utf8), !mapsText.isEmpty else {
            throw CaptureError(
                "process \(pid): cannot read /proc/\(pid)/maps (attach needs the same user as the QEMU process, or root)"
            )
        }
        let bytes = memoryBytes(commandLine: argv)
        guard let (ram, how) = findRAM(parseMaps(mapsText), bytes: bytes) else {
            throw CaptureError(
                "process \(pid): no writable mapping of the guest's \(bytes.map { "\($0 >> 20) MiB" } ?? "memory") in /proc/\(pid)/maps"
            )
        }
        guard ram.bytes % 4096 == 0, ram.bytes / 4096 <= UInt64(UInt32.max) else {
            throw CaptureError(
                "process \(pid): the guest RAM mapping (\(ram.bytes) bytes) is not a whole number of 4 KiB pages below 2^32 pages"
            )
        }
        return QEMUProcess(pid: pid, commandLine: argv, ramStart: ram.start, ramBytes: ram.bytes, how: how)
    }

    /// Every QEMU process (command `qemu-system-*`) of this user (all users' for root) that has
    /// guest RAM, in pid order.
    public static func all() -> [Int32] {
        let me = getuid()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { Int32($0) }.sorted().filter { pid in
            guard pid != getpid(),
                let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                let exe = raw.split(separator: 0).first,
                (String(decoding: exe, as: UTF8.self) as NSString).lastPathComponent.hasPrefix("qemu-system")
            else { return false }
            var st = stat()
            guard stat("/proc/\(pid)", &st) == 0, me == 0 || st.st_uid == me else { return false }
            return (try? inspect(pid: pid)) != nil
        }
    }
}

/// A /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst): bit 63 present in RAM,
/// bit 62 swapped, bit 61 file-backed or shared anonymous, bit 56 mapped exclusively, bit 55
/// soft-dirty (written since the last `4` to clear_refs), bits 0-54 the frame number (zero
/// without CAP_SYS_ADMIN) or, when swapped, the swap type and offset.
public struct PagemapEntry: Equatable, Sendable {
    public let raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }
    public var present: Bool { raw >> 63 & 1 == 1 }
    public var swapped: Bool { raw >> 62 & 1 == 1 }
    public var fileOrShared: Bool { raw >> 61 & 1 == 1 }
    public var exclusive: Bool { raw >> 56 & 1 == 1 }
    public var softDirty: Bool { raw >> 55 & 1 == 1 }
    /// Backed by the host: in RAM or in swap. Neither means never touched (or discarded).
    public var backed: Bool { present || swapped }
}
