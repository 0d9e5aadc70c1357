import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where outputs may go. Every file a command writes is checked before any work and again when
/// it is created: it must be a regular file or not exist yet (never a symbolic link, FIFO,
/// device, socket or directory: renaming a finished file over one would replace it), and the
/// command line checks it is none of the command's inputs (compared by device and inode, so
/// two spellings of one file are caught).
public enum OutputPath {
    /// The folder part of `path`: "" when it names none ("out.mtr.zst"), "/" for a file at the
    /// root. Foundation's `deletingLastPathComponent` is not used: it traps on one-character
    /// paths ("-", "a") in the toolchain's Foundation.
    public static func folder(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let i = p.lastIndex(of: "/") else { return "" }
        if i == p.startIndex { return "/" }
        var d = p[..<i]
        while d.count > 1 && d.hasSuffix("/") { d = d.dropLast() }
        return String(d)
    }

    /// Throws unless `path` may be written: absent or a regular file, and not the same file
    /// (device and inode) as any of `inputs`.
    public static func check(_ path: String, inputs: [String] = []) throws(TraceError) {
        var lst = stat()
        if lstat(path, &lst) != 0 {
            guard errno == ENOENT else {
                throw TraceError(file: path, .io("cannot write here: \(String(cString: strerror(errno)))"))
            }
            // A new file: its folder must exist (named as such, before any work, rather than
            // the temporary file failing at the end).
            let dir = folder(of: path)
            let folder = dir.isEmpty ? "." : dir
            var dst = stat()
            if stat(folder, &dst) != 0 {
                throw TraceError(
                    file: path, .io("the folder \(folder) does not exist (create it first, or write elsewhere)"))
            }
            guard dst.st_mode & S_IFMT == S_IFDIR else {
                throw TraceError(file: path, .io("\(folder) is not a folder"))
            }
            return
        }
        let kind = lst.st_mode & S_IFMT
        guard kind == S_IFREG else {
            throw TraceError(
                file: path,
                .io(
                    "refusing to write: it is \(describe(kind)), not a regular file (write to a regular file, or leave out -o for stdout)"
                ))
        }
        for input in inputs {
            var st = stat()
            if stat(input, &st) == 0 && st.st_dev == lst.st_dev && st.st_ino == lst.st_ino {
                throw TraceError(
                    file: path,
                    .io("refusing to write: it is an input of this command (\(input)); choose another output"))
            }
        }
    }

    static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        default: return "not a regular file"
        }
    }

    /// Eight hex digits naming this host (its host name and boot id): the start of every
    /// temporary file's TAG. A PID means something only on the host (and in the PID namespace)
    /// that wrote it, so a temporary file is judged stale only by a process of the same host:
    /// cluster nodes or pods writing into one shared folder never remove each other's files.
    public static let hostTag: String = {
        var name = [CChar](repeating: 0, count: 256)
        _ = gethostname(&name, name.count - 1)
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in Array(String(cString: name).utf8) + [0] + Array(boot.utf8) { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        let hex = String(h & 0xFFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }()

    /// Removes temporary files (`.NAME.tmp-PID-TAG`) that a process of this host no longer
    /// running left in `dir`. A live process's files, another host's (TAG not starting with
    /// `hostTag`), and anything not of that form, are left alone.
    public static func removeStaleTemporaries(in dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards) else { continue }
            let rest = name[r.upperBound...].split(separator: "-")
            guard rest.count == 2, let pid = Int32(rest[0]), pid > 0, pid != getpid(),
                rest[1].allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLowercase) }),
                rest[1].count > hostTag.count, rest[1].hasPrefix(hostTag)
            else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                var st = stat()
                let full = dir + "/" + name
                if lstat(full, &st) == 0 && st.st_mode & S_IFMT == S_IFREG { unlink(full) }
            }
        }
    }
}
