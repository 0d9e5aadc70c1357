import Foundation
import TraceFormat

/// The text reader (lines, fields, declarations, canonical text) on arbitrary bytes:
/// every input must decode or end in a TraceError, never crash, hang or leak.
func check(_ data: UnsafeRawBufferPointer) {
    FuzzInput.withFile(data, suffix: ".mtr.txt") { path in
        _ = try? TraceFile.validate(path)
        _ = try? TraceFile.summary(path)
        _ = try? TraceFile.storedFooter(path)
    }
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
