import Foundation
import TraceFormat

/// The valgrind lackey importer on arbitrary bytes: a trace or a TraceError, never a crash.
func check(_ data: UnsafeRawBufferPointer) {
    FuzzInput.withFile(data, suffix: ".lackey") { path in
        var imp = LackeyImporter()
        imp.microsPerAccess = UInt64(data.first ?? 1) << (data.count % 64)
        let out = FuzzInput.dir + "/out.mtr.zst"
        _ = try? imp.importFile(path, to: out, level: 1)
        unlink(out)
    }
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
