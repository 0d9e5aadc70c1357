#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A minimal client for QEMU's machine protocol (QMP) over a Unix socket: one command at a
/// time, asynchronous events skipped, every read bounded by a timeout so a wedged QEMU gives an
/// error instead of a hang.
final class QMPClient {
    let path: String
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private let timeoutMillis: Int32

    /// Connects, reads the greeting and enters command mode.
    init(path: String, timeoutMillis: Int32 = 20_000) throws(CaptureError) {
        self.path = path
        self.timeoutMillis = timeoutMillis
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CaptureError("QMP \(path): socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw CaptureError("QMP socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            fd = -1
            throw CaptureError("QMP \(path): connect: \(e)")
        }
        guard case .greeting = try readMessage() else { throw CaptureError("QMP \(path): unexpected greeting") }
        _ = try execute("qmp_capabilities")
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Sends one command and returns its `return` value; an `error` reply throws.
    @discardableResult
    func execute(_ command: String, arguments: [String: Any]? = nil) throws(CaptureError) -> Any {
        var msg: [String: Any] = ["execute": command]
        if let a = arguments { msg["arguments"] = a }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: msg) } catch {
            throw CaptureError("QMP \(command): cannot encode the command")
        }
        var out = Array(data)
        out.append(UInt8(ascii: "\n"))
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + sent, out.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CaptureError("QMP \(path): \(command): write: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
        while true {
            switch try readMessage() {
            case .reply(let r): return r
            case .failure(let desc): throw CaptureError("QMP \(command) failed: \(desc)")
            case .greeting, .event, .other: continue
            }
        }
    }

    /// Sends `quit`; QEMU may close the socket before or after replying.
    func quit() {
        _ = try? execute("quit")
    }

    private func readMessage() throws(CaptureError) -> QMPMessage {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                if line.allSatisfy({ $0 == 32 || $0 == 13 }) { continue }
                guard let m = QMPMessage.parse(line) else { throw CaptureError("QMP \(path): unreadable reply") }
                return m
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, timeoutMillis)
            if r < 0 {
                if errno == EINTR { continue }
                throw CaptureError("QMP \(path): poll: \(String(cString: strerror(errno)))")
            }
            if r == 0 { throw CaptureError("QMP \(path): no reply within \(timeoutMillis / 1000) s") }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 4096) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CaptureError("QMP \(path): read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw CaptureError("QMP \(path): QEMU closed the connection") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

/// One message QEMU sends on its QMP socket (a line of JSON): the greeting, an event, the
/// reply to a command (its `return` value, or its `error`'s description), or something else.
public enum QMPMessage {
    case greeting
    case event
    case reply(Any)
    case failure(String)
    case other

    /// The message one line holds; nil when it is not a JSON object.
    public static func parse(_ line: [UInt8]) -> QMPMessage? {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { return nil }
        if o["QMP"] != nil { return .greeting }
        if o["event"] != nil { return .event }
        if let r = o["return"] { return .reply(r) }
        if let e = o["error"] as? [String: Any] { return .failure(e["desc"] as? String ?? "unknown error") }
        return .other
    }
}

/// A capture failure: one line for the user.
public struct CaptureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ s: String) { description = s }
}
