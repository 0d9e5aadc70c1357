/// "Did you mean …?" for names users type: the closest known name by edit distance, ignoring
/// case and dashes, when it is close enough to be the intended one.
public enum Suggest {
    /// The known name nearest to `typed` (edit distance at most 1 for names of up to 4
    /// characters, 2 up to 8, 3 beyond; or the one known name `typed` is a prefix of), or nil.
    /// Ties go to the earlier name in `among`.
    public static func nearest(_ typed: String, among names: [String]) -> String? {
        func norm(_ s: String) -> [Character] { Array(s.lowercased().filter { $0 != "-" && $0 != "_" }) }
        let t = norm(typed)
        guard !t.isEmpty else { return nil }
        var best: (name: String, d: Int)?
        for n in names {
            let d = distance(t, norm(n))
            if best == nil || d < best!.d { best = (n, d) }
        }
        if let b = best, b.d <= (t.count <= 4 ? 1 : t.count <= 8 ? 2 : 3) { return b.name }
        let prefixed = names.filter { norm($0).starts(with: t) }
        return prefixed.count == 1 ? prefixed[0] : nil
    }

    /// Levenshtein distance (insert, delete, substitute, each 1).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
