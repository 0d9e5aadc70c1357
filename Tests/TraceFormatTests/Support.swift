import Foundation
@testable import TraceFormat

/// A fresh temporary folder per test, removed when the value goes away.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "tracetool-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

func readAll(_ path: String) throws -> [TraceRecord] {
    let r = try TraceFile.open(path)
    var out: [TraceRecord] = []
    var batch: [TraceRecord] = []
    while try r.next(into: &batch) { out.append(contentsOf: batch) }
    return out
}

func write(
    _ records: [TraceRecord], header: TraceHeader, to path: String, chunkBytes: Int = 128 << 10,
    frameBytes: Int = 4 << 20
) throws {
    let sink: any TraceSink =
        TraceSinks.isTextPath(path)
        ? try TextTraceWriter(path: path, header: header)
        : try BinaryTraceWriter(path: path, header: header, frameBytes: frameBytes, chunkBytes: chunkBytes)
    for r in records { try sink.append(r) }
    try sink.finish()
}

/// Random valid records over `header`'s VMs: every kind, runs, virtual accesses, time jumps.
func randomRecords(_ rng: inout SeededRandom, header: TraceHeader, count: Int) -> [TraceRecord] {
    var t: UInt64 = rng.below(1000)
    var out: [TraceRecord] = []
    for _ in 0..<count {
        let vm = header.vms[Int(rng.below(UInt64(header.vms.count)))]
        let roll = rng.below(100)
        if roll < 10 { t += rng.below(3) == 0 ? rng.below(1 << 40) : rng.below(100) }
        let ppn = rng.below(vm.pages)
        let maxRun = min(vm.pages - ppn, 300)
        var r = TraceRecord(time: Micros(t), vm: VMID(vm.id), kind: .read, ppn: PPN(UInt32(ppn)))
        switch rng.below(11) {
        case 0: r.kind = .read
        case 1: r.kind = .write
        case 2: r.kind = .read; r.count = UInt32(1 + rng.below(maxRun))
        case 3: r.kind = .write; r.count = UInt32(1 + rng.below(maxRun))
        case 4:
            r.kind = rng.below(2) == 0 ? .read : .write
            r.hasVirtual = true; r.asid = ASID(UInt32(truncatingIfNeeded: rng.next() >> rng.below(64)));
            r.vpn = VPN(rng.next() >> rng.below(64))
        case 5: r.kind = .content; r.hash = ContentHash(rng.next())
        case 6: r.kind = .content; r.hash = ContentHash(rng.next()); r.compressedSize = UInt32(1 + rng.below(4096))
        case 7: r.kind = .zero; r.count = UInt32(1 + rng.below(min(maxRun, 4)))
        case 8: r.kind = .free; r.count = UInt32(1 + rng.below(min(maxRun, 4)))
        case 9: r = TraceRecord(time: Micros(t), vm: VMID(vm.id), kind: .powerOn)
        default: r = TraceRecord(time: Micros(t), vm: VMID(vm.id), kind: .powerOff)
        }
        out.append(r)
    }
    return out
}

func randomHeader(_ rng: inout SeededRandom) -> TraceHeader {
    let n = 1 + Int(rng.below(6))
    var vms: [VMDecl] = []
    var id: UInt32 = UInt32(rng.below(3))
    for i in 0..<n {
        let pages: UInt64 = [1, 7, 4096, 65536, 1 << 32][Int(rng.below(5))]
        vms.append(VMDecl(id: id, name: "vm-\(i)", pages: pages))
        id += 1 + UInt32(rng.below(1000))
    }
    return TraceHeader(
        pageSize: 4096, vms: vms,
        capture: CaptureFacts(source: "text", hash: .init(algorithm: "xxh3-64"), accesses: "exact"))
}

/// Builds raw (uncompressed) binary streams byte by byte, for malformed-input tests.
struct RawStream {
    var bytes: [UInt8] = []

    static func header(json: String, version: UInt16 = 1) -> RawStream {
        var s = RawStream()
        s.bytes = BinaryLayout.magic
        s.bytes += [UInt8(version & 0xFF), UInt8(version >> 8), 0, 0]
        let j = Array(json.utf8)
        appendLE32(UInt32(j.count), &s.bytes)
        s.bytes += j
        return s
    }

    static let oneVM =
        #"{"capture":{"accesses":"exact","source":"test","timeUnit":"us","tool":"t","toolVersion":"1"},"pageSize":4096,"vms":[{"id":0,"name":"a","pages":100}]}"#

    mutating func chunk(_ payload: [UInt8], records: UInt32, base: UInt64 = 0) {
        appendLE32(BinaryLayout.chunkTag, &bytes)
        appendLE32(UInt32(payload.count), &bytes)
        appendLE32(records, &bytes)
        appendLE64(base, &bytes)
        bytes += payload
    }

    /// The footer of a trace with no records and the one VM of `oneVM`.
    static let emptyFooter =
        #"{"chunks":0,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":0,"virtualAccesses":0,"write":0,"zero":0},"records":0,"vms":[{"id":0,"pages":0,"records":0}]}"#

    mutating func footer(_ json: String) {
        appendLE32(BinaryLayout.footerTag, &bytes)
        let j = Array(json.utf8)
        appendLE32(UInt32(j.count), &bytes)
        bytes += j
    }

    func write(to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// Expects `body` to throw a TraceError and returns it.
func traceError(_ body: () throws -> Void) -> TraceError? {
    do {
        try body()
        return nil
    } catch let e as TraceError {
        return e
    } catch {
        return nil
    }
}

/// Runs the zstd command line tool; returns its exit status.
func zstd(_ args: [String]) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
    p.arguments = args
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}
