import Foundation
import TraceFormat

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
nonisolated(unsafe) var fuzzTarget: ((UnsafeRawBufferPointer) -> Void)?
#endif

/// What every fuzz target shares: the bytes of one input in a scratch file (the readers take
/// paths), removed afterwards. Built with -DFUZZING and -sanitize=fuzzer,address
/// (scripts/fuzz.sh), `run` hands the target to libFuzzer's driver; built plainly, it replays
/// the files named on the command line, which is how a finding is reproduced and debugged.
enum FuzzInput {
    static func run(_ check: @escaping (UnsafeRawBufferPointer) -> Void) {
        #if FUZZING
        fuzzTarget = check
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzTarget!(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
        #else
        replay(check)
        #endif
    }

    static let dir: String = {
        let d = NSTemporaryDirectory() + "tracetool-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// A trace reader on arbitrary bytes: every input must decode or end in a TraceError,
    /// never crash, hang or leak (validate, the header+footer summary, the seek table).
    static func readTrace(_ data: UnsafeRawBufferPointer, suffix: String) {
        withFile(data, suffix: suffix) { path in
            _ = try? TraceFile.validate(path)
            _ = try? TraceFile.summary(path)
            _ = try? TraceFile.storedFooter(path)
        }
    }

    static func withFile(_ data: UnsafeRawBufferPointer, suffix: String, _ body: (String) -> Void) {
        let path = dir + "/input" + suffix
        _ = FileManager.default.createFile(atPath: path, contents: Data(data))
        body(path)
        unlink(path)
    }

    /// Replays each file named on the command line through `check` (no libFuzzer).
    static func replay(_ check: (UnsafeRawBufferPointer) -> Void) {
        for path in CommandLine.arguments.dropFirst() {
            guard let d = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                exit(1)
            }
            d.withUnsafeBytes { check($0) }
            print("\(path): ok")
        }
    }
}
