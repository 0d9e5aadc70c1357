import Analyzer
import Foundation

/// A study file on arbitrary bytes: it must load or be refused with one message, and a study
/// that loads must plan its cells (traces named in it are read from the scratch folder, where
/// there are none) or be refused — never trap, hang or grow with a number in the input. The
/// same bytes as a fingerprint file (`fingerprint`, `place`): decoded and reported, or refused.
func check(_ data: UnsafeRawBufferPointer) {
    FuzzInput.withFile(data, suffix: ".json") { path in
        guard let spec = try? StudySpec.load(path) else { return }
        _ = try? StudyPlan.make(spec, hashing: [])
    }
    if let f = try? FingerprintFile.decode(Array(data), file: "input.json") {
        _ = FingerprintReport(f, pairs: 3).text()
    }
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
