/// Byte-level constants of the binary trace format (docs/FORMAT.md is the specification).
public enum BinaryLayout {
    /// `89 4D 54 52 0D 0A 1A 0A`: high bit, "MTR", CR LF, EOF, LF — catches text-mode damage.
    public static let magic: [UInt8] = [0x89, 0x4D, 0x54, 0x52, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let chunkTag: UInt32 = 0x4B4E_4843  // "CHNK" little-endian
    public static let footerTag: UInt32 = 0x544F_4F46  // "FOOT" little-endian
    public static let chunkHeaderSize = 20
    public static let fixedHeaderSize = 16

    public enum Op {
        public static let time: UInt8 = 0x01
        public static let vm: UInt8 = 0x02
        public static let read: UInt8 = 0x10
        public static let write: UInt8 = 0x11
        public static let readRun: UInt8 = 0x12
        public static let writeRun: UInt8 = 0x13
        public static let readVirtual: UInt8 = 0x14
        public static let writeVirtual: UInt8 = 0x15
        public static let content: UInt8 = 0x20
        public static let zero: UInt8 = 0x21
        public static let zeroRun: UInt8 = 0x22
        public static let free: UInt8 = 0x23
        public static let freeRun: UInt8 = 0x24
        /// Version 2: a content record with the page's compressed size.
        public static let contentSized: UInt8 = 0x25
        public static let powerOn: UInt8 = 0x30
        public static let powerOff: UInt8 = 0x31
        public static let ext: UInt8 = 0x3F

        /// Whether `op` is an event record's opcode (every listed opcode but the control
        /// records 0x01, 0x02 and 0x3F).
        public static func isEvent(_ op: UInt8) -> Bool {
            (read...writeVirtual).contains(op) || (content...contentSized).contains(op) || op == powerOn
                || op == powerOff
        }
    }

    /// zstd seekable format: skippable-frame magic and the seek table's own footer magic.
    public static let seekTableFrameMagic: UInt32 = 0x184D_2A5E
    public static let seekableMagic: UInt32 = 0x8F92_EAB1
}

@inline(__always)
func appendLE32(_ v: UInt32, _ out: inout [UInt8]) {
    out.append(UInt8(truncatingIfNeeded: v))
    out.append(UInt8(truncatingIfNeeded: v >> 8))
    out.append(UInt8(truncatingIfNeeded: v >> 16))
    out.append(UInt8(truncatingIfNeeded: v >> 24))
}

@inline(__always)
func appendLE64(_ v: UInt64, _ out: inout [UInt8]) {
    appendLE32(UInt32(truncatingIfNeeded: v), &out)
    appendLE32(UInt32(truncatingIfNeeded: v >> 32), &out)
}

@inline(__always)
func loadLE32(_ p: UnsafeRawPointer) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) }

@inline(__always)
func loadLE64(_ p: UnsafeRawPointer) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) }
