import Analyzer
import Foundation

/// A study file on arbitrary bytes: it must load or be refused with one message, and a study
/// that loads must plan its cells (traces named in it are read from the scratch folder, where
/// there are none) or be refused — never trap, hang or grow with a number in the input.
func check(_ data: UnsafeRawBufferPointer) {
    FuzzInput.withFile(data, suffix: ".json") { path in
        guard let spec = try? StudySpec.load(path) else { return }
        _ = try? StudyPlan.make(spec, hashing: [])
    }
}

@main struct Fuzz { static func main() { FuzzInput.run(check) } }
