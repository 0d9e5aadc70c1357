import Foundation
import TraceFormat

/// Why a replay stopped.
public struct ReplayError: Error, CustomStringConvertible, Equatable {
    /// The trace, when the caller knows it (the engine does not).
    public var file: String?
    public var record: UInt64?
    public var time: UInt64
    public var message: String
    public init(file: String? = nil, record: UInt64? = nil, time: UInt64, message: String) {
        self.file = file; self.record = record; self.time = time; self.message = message
    }
    /// "FILE: record N (time T µs): what" — the record last applied and the simulated time.
    public var description: String {
        let f = file.map { "\($0): " } ?? ""
        let at = record.map { "record \($0) (time \(time) µs)" } ?? "time \(time) µs"
        return "\(f)\(at): \(message)"
    }
}
