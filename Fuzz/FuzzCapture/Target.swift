import Capture
import Foundation

/// What the capture parses from outside: `--vm` and `--attach` specifications, /proc/PID/maps
/// and cmdline text, pagemap words and QMP replies, and guest memory dumps in ELF form
/// (`convert --from elf-dump`), on arbitrary bytes. Each must give a value or an error, never a
/// trap, a hang or a leak.
func check(_ data: UnsafeRawBufferPointer) {
    FuzzInput.withFile(data, suffix: ".elf") { path in
        let out = FuzzInput.dir + "/dump.mtr"
        var imp = ElfDumpImporter()
        imp.blockBytes = 1 << 14
        _ = try? imp.importFile(path, to: out)
        unlink(out)
    }
    let text = String(decoding: data, as: UTF8.self)
    _ = try? CaptureVMSpec.parse(text, index: 0)
    _ = try? AttachSpec.parse(text)
    let maps = QEMUProcess.parseMaps(text)
    _ = QEMUProcess.findRAM(maps, bytes: nil)
    _ = QEMUProcess.findRAM(maps, bytes: 256 << 20)
    let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    _ = QEMUProcess.memoryBytes(commandLine: argv)
    _ = QEMUProcess.guestName(commandLine: argv)
    var present = 0
    for i in stride(from: 0, to: data.count - 7, by: 8) {
        var raw: UInt64 = 0
        for b in 0..<8 { raw |= UInt64(data[i + b]) << (8 * UInt64(b)) }
        if PagemapEntry(raw).backed { present += 1 }
    }
    for line in data.split(separator: UInt8(ascii: "\n")) { _ = QMPMessage.parse(Array(line)) }
    _ = present
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
