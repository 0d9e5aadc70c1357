import Foundation
import TraceFormat

/// Renders what `tracetool info` shows: header, VMs, capture facts and footer totals.
public enum TraceInfoRenderer {
    public static func text(path: String, header: TraceHeader, footer: TraceFooter, encoding: TraceEncoding) -> String {
        var s = "file        \(path)\n"
        s += "encoding    \(encoding.rawValue)\n"
        s += "page size   \(header.pageSize) B\n"
        let c = header.capture
        s += "source      \(c.source) (\(c.tool) \(c.toolVersion))\n"
        if let h = c.hash { s += "hash        \(h.algorithm), \(h.bits) bits\n" }
        if let z = c.compression { s += "compressed  content records carry their page's compressed size (\(z))\n" }
        s += "time unit   \(c.timeUnit); accesses \(c.accesses)\n"
        for (k, v) in (c.details ?? [:]).sorted(by: { $0.key < $1.key }) {
            s += "  \(k) = \(v)\n"
        }
        let first = footer.firstTime.map { formatSeconds($0) } ?? "-"
        let last = footer.lastTime.map { formatSeconds($0) } ?? "-"
        s += "records     \(footer.records) in \(footer.chunks) chunks, time \(first) … \(last)\n"
        let k = footer.kinds
        s +=
            "  read \(k.read)  write \(k.write)  (virtual \(k.virtualAccesses))  content \(k.content)  zero \(k.zero)  free \(k.free)  on \(k.powerOn)  off \(k.powerOff)\n"
        var rows: [[String]] = [
            ["vm", "name", "max pages", "max MiB", "min pages", "shares", "records", "page references"]
        ]
        for vm in header.vms {
            let per = footer.vms.first { $0.id == vm.id }
            let ps = UInt64(vm.pageSize ?? header.pageSize)
            rows.append([
                String(vm.id), vm.name, String(vm.pages), formatMiB(vm.pages * ps),
                vm.minPages.map(String.init) ?? "-", vm.shares.map(String.init) ?? "-",
                String(per?.records ?? 0), String(per?.pages ?? 0),
            ])
        }
        s += "\n" + TextTable.render(rows, rightAligned: [0, 2, 3, 4, 5, 6, 7])
        s +=
            "  page references: pages the VM's records name, counted each time (a run of N pages counts N); not the memory it touched (`tracetool stats` gives that)\n"
        return s
    }

    public static func json(
        path: String, header: TraceHeader, footer: TraceFooter, encoding: TraceEncoding
    ) throws -> String {
        struct Info: Encodable {
            var file: String
            var encoding: String
            var header: TraceHeader
            var footer: TraceFooter
        }
        let data = try JSONEncoder.canonical(pretty: true).encode(
            Info(file: path, encoding: encoding.rawValue, header: header, footer: footer))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    public static func formatSeconds(_ micros: UInt64) -> String {
        String(format: "%.6f s", Double(micros) / 1_000_000)
    }

    public static func formatMiB(_ bytes: UInt64) -> String {
        String(format: "%.1f", Double(bytes) / 1_048_576)
    }
}

/// Aligned plain-text tables for terminal output.
public enum TextTable {
    /// `rows[0]` is the header. Columns listed in `rightAligned` are right-aligned.
    public static func render(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        guard let first = rows.first else { return "" }
        var widths = Array(repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in rows {
            var line = ""
            for (i, c) in r.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                if i > 0 { line += "  " }
                line += rightAligned.contains(i) ? pad + c : c + pad
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}
