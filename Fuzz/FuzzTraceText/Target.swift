import Foundation

/// The text reader (lines, fields, declarations) on arbitrary bytes.
func check(_ data: UnsafeRawBufferPointer) { FuzzInput.readTrace(data, suffix: ".mtr.txt") }

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
