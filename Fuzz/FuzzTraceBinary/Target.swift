import Foundation

/// The binary reader (zstd framing, chunks, seek table, footer checks) on arbitrary bytes.
func check(_ data: UnsafeRawBufferPointer) { FuzzInput.readTrace(data, suffix: ".mtr.zst") }

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
