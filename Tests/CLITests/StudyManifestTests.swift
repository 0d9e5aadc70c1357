import Analyzer
import Foundation
import Testing

/// `study plan --emit k8s` and the manifests in scripts/k8s, checked offline by
/// Tests/check_manifests.py (YAML parsed with python3-yaml; no cluster); the image path in a
/// gated test (scripts/image-test.sh).
@Suite("Study manifests and the image")
struct StudyManifestTests {
    static let example = CLI.packageRoot + "/scripts/study-example.json"
    static let committed = CLI.packageRoot + "/scripts/k8s/study-job.yaml"
    static let emit = [
        "study", "plan", example, "--emit", "k8s", "--image", "REGISTRY/tracetool:0.1.0", "--study-path",
        "/study/scripts/study-example.json",
    ]

    static func check(_ file: String, cells: Int, memoryBytes: UInt64, image: String? = nil) throws -> (Int32, String) {
        var args = [CLI.packageRoot + "/Tests/check_manifests.py", file, "--cells", "\(cells)"]
        args += ["--memory-bytes", "\(memoryBytes)"] + (image.map { ["--image", $0] } ?? [])
        let r = try CLI.python(args)
        return (r.status, r.stdout)
    }

    @Test(
        "Pod memory and volume size, by hand: 8 MiB of model state → 256Mi (the floor); 300 MiB → 512Mi; 3 GiB → 4224Mi"
    )
    func sizes() {
        let mib = Double(StudyManifests.mebibyte)
        // 8 × 4/3 + 96 = 106.7 MiB → 128 MiB in 64 MiB steps → the 256 MiB floor.
        #expect(StudyManifests.podMemoryBytes(plannedBytes: 8 * mib) == 256 << 20)
        // 300 × 4/3 + 96 = 496 MiB → 512 MiB.
        #expect(StudyManifests.podMemoryBytes(plannedBytes: 300 * mib) == 512 << 20)
        // 3072 × 4/3 + 96 = 4192 MiB → 66 × 64 = 4224 MiB, not whole GiB: written in Mi.
        #expect(StudyManifests.podMemoryBytes(plannedBytes: 3072 * mib) == 4224 << 20)
        #expect(StudyManifests.quantity(4224 << 20) == "4224Mi" && StudyManifests.quantity(2 << 30) == "2Gi")
        // Traces of 10 MiB twice + 8 cells × 1 MiB = 28 MiB → 1 GiB; 3 GiB of traces → 7 GiB (6 GiB + 8 MiB).
        #expect(StudyManifests.volumeBytes(traceBytes: 10 << 20, cells: 8) == 1 << 30)
        #expect(StudyManifests.volumeBytes(traceBytes: 3 << 30, cells: 8) == 7 << 30)
    }

    @Test("study plan --emit k8s for the example study is scripts/k8s/study-job.yaml, and the offline check passes it")
    func emitted() throws {
        let r = try CLI.run(Self.emit)
        #expect(r.status == 0, "\(r.stderr)")
        let committed = try String(contentsOfFile: Self.committed, encoding: .utf8)
        #expect(
            r.stdout == committed,
            "regenerate: tracetool \(Self.emit.joined(separator: " ")) > scripts/k8s/study-job.yaml")
        let plan = try CLI.run(["study", "plan", Self.example])
        let cells = plan.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
        #expect(cells == 8)
        let spec = try StudySpec.load(Self.example)
        let sizes = try StudyManifests.sizes(try StudyPlan.make(spec))
        let need = UInt64(sizes.plannedBytes * 4 / 3)
        let (status, out) = try Self.check(
            Self.committed, cells: cells, memoryBytes: need, image: "REGISTRY/tracetool:0.1.0")
        #expect(status == 0 && out == "ok\n", "\(out)")
    }

    @Test("The offline check refuses what an Indexed Job study cannot run with")
    func checkerRefuses() throws {
        let s = Scratch()
        let good = try String(contentsOfFile: Self.committed, encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("completions: 8", "completions: 7", "completions 7, the study has 8 cells"),
            ("completionMode: Indexed", "completionMode: NonIndexed", "expected one Indexed Job"),
            ("\"ReadWriteMany\"", "\"ReadWriteOnce\"", "lacks ReadWriteMany"),
            ("\"--cell-from-env\", ", "", "is not tracetool study run STUDY --cell-from-env"),
            ("restartPolicy: Never", "restartPolicy: OnFailure", "not Never"),
            ("limits: {memory: 256Mi}", "limits: {memory: 64Mi}", "memory limits 64Mi is below"),
            ("  parallelism: 4", "  parallelism: 0", "parallelism 0 is not in 1…8"),
        ]
        for (from, to, problem) in cases {
            let bad = good.replacingOccurrences(of: from, with: to)
            #expect(bad != good, "\(from) is not in the manifest")
            let f = s.file("bad.yaml")
            try Data(bad.utf8).write(to: URL(fileURLWithPath: f))
            let (status, out) = try Self.check(f, cells: 8, memoryBytes: 100 << 20)
            #expect(status == 1 && out.contains(problem), "\(from) → \(to): \(out)")
        }
    }

    @Test("--emit options: no image, a bad claim or study path, --image without --emit: one line, exit 64")
    func badOptions() throws {
        for (args, words) in [
            (["--emit", "k8s"], "needs --image"),
            (["--emit", "k8s", "--image", "a b"], "needs --image"),
            (["--emit", "k8s", "--image", "r/t", "--claim", "Bad_Name"], "a Kubernetes name"),
            (["--emit", "k8s", "--image", "r/t", "--study-path", "/data/s.json"], "under /study/"),
            (["--image", "r/t"], "goes with --emit k8s"),
            (["--emit", "helm", "--image", "r/t"], "helm"),
        ] {
            let r = try CLI.run(["study", "plan", Self.example] + args)
            #expect(r.status == CLI.usage, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(words) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        // Without --study-path, traces outside the study's folder are named in a warning.
        let r = try CLI.run(["study", "plan", Self.example, "--emit", "k8s", "--image", "r/t"])
        #expect(r.status == 0 && r.stderr.contains("outside the study's folder"), "\(r.stderr)")
    }

    @Test(
        "In the image (TRACETOOL_IMAGE_TESTS=1): every cell of the example study run with JOB_COMPLETION_INDEX, then merge, equals study local byte for byte",
        .enabled(if: ProcessInfo.processInfo.environment["TRACETOOL_IMAGE_TESTS"] == "1"))
    func inImage() throws {
        let (status, text) = try CLI.script("image-test.sh")
        #expect(status == 0, "\(text.suffix(2000))")
        #expect(text.contains("gave the same merged.csv as study local"))
    }
}
