import Analyzer
import Capture
import Foundation
import TraceFormat

/// What the fleet commands read from outside: a guest memory dump in ELF form (`convert --from
/// elf-dump`) and a fingerprint file (`fingerprint`, `place`), on arbitrary bytes. Each must
/// convert or be refused with an error, never trap, hang or leak.
func check(_ data: UnsafeRawBufferPointer) {
    FuzzInput.withFile(data, suffix: ".elf") { path in
        let out = FuzzInput.dir + "/dump.mtr"
        var imp = ElfDumpImporter()
        imp.blockBytes = 1 << 14
        _ = try? imp.importFile(path, to: out)
        unlink(out)
    }
    if let f = try? FingerprintFile.decode(Array(data), file: "input.json") {
        _ = FingerprintReport(f, pairs: 3).text()
    }
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
