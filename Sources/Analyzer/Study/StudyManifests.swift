import Foundation
import Replay
import TraceFormat

/// `study plan --emit k8s`: the Kubernetes manifests that run a study, filled in for it — a
/// ReadWriteMany PersistentVolumeClaim for the study's files, an Indexed Job with one completion
/// per cell (`tracetool study run … --cell-from-env`: Kubernetes sets JOB_COMPLETION_INDEX in
/// every pod of an Indexed Job) and the merge Job (docs/STUDY.md "On Kubernetes").
public enum StudyManifests {
    public struct Options: Sendable {
        /// The image every pod runs (scripts/image.sh builds one).
        public var image: String
        /// Where the study file is inside the pods (the volume is mounted at /study).
        public var studyPath: String
        /// The PersistentVolumeClaim's name.
        public var claim = "tracetool-study"
        /// Pods at once (at most the number of cells).
        public var parallelism = 4

        public init(image: String, studyPath: String) {
            self.image = image
            self.studyPath = studyPath
        }
    }

    public static let mebibyte: UInt64 = 1 << 20
    public static let gibibyte: UInt64 = 1 << 30

    /// The memory one pod asks for and is limited to, in bytes: the model's page state for the
    /// largest trace of the study (`ReplayEngine.plannedBytes`, what `--max-memory` is checked
    /// against), times 4/3 because the default budget is ¾ of the cgroup's limit, plus 96 MiB
    /// for the decoder and the process; rounded up to 64 MiB, at least 256 MiB.
    public static func podMemoryBytes(plannedBytes: Double) -> UInt64 {
        let need = plannedBytes * 4 / 3 + Double(96 * mebibyte)
        let step = Double(64 * mebibyte)
        return max(256 * mebibyte, UInt64((need / step).rounded(.up) * step))
    }

    /// The volume's size, in bytes: the traces twice over (copies while uploading) plus 1 MiB
    /// per cell for the results, rounded up to whole GiB, at least 1 GiB.
    public static func volumeBytes(traceBytes: UInt64, cells: Int) -> UInt64 {
        let need = 2 * traceBytes + UInt64(cells) * mebibyte
        return max(1, (need + gibibyte - 1) / gibibyte) * gibibyte
    }

    public struct Sizes: Sendable {
        /// The largest `ReplayEngine.plannedBytes` over the study's traces.
        public var plannedBytes: Double
        /// The traces' files, in bytes.
        public var traceBytes: UInt64
    }

    /// Reads each trace's header (not its records) for the sizes.
    public static func sizes(_ plan: StudyPlan) throws(TraceError) -> Sizes {
        var planned = 0.0
        var bytes: UInt64 = 0
        var seen = Set<String>()
        for c in plan.cells where seen.insert(c.tracePath).inserted {
            let h = try TraceFile.open(c.tracePath).header
            let pages = h.vms.reduce(0.0) { $0 + Double($1.pages) }
            planned = max(planned, ReplayEngine.plannedBytes(guestPages: pages, vms: h.vms.count))
            let size = (try? FileManager.default.attributesOfItem(atPath: c.tracePath)[.size] as? NSNumber)?.uint64Value
            bytes += size ?? 0
        }
        return Sizes(plannedBytes: planned, traceBytes: bytes)
    }

    /// A size as Kubernetes writes it: whole Gi when it is one, else Mi.
    public static func quantity(_ bytes: UInt64) -> String {
        bytes % gibibyte == 0 ? "\(bytes / gibibyte)Gi" : "\((bytes + mebibyte - 1) / mebibyte)Mi"
    }

    /// A YAML string (JSON's quoting, which YAML reads).
    static func quoted(_ s: String) -> String { TypedTable.jsonString(s) }

    /// The three manifests, as one YAML stream.
    public static func kubernetes(_ plan: StudyPlan, sizes: Sizes, options o: Options) -> String {
        let cells = plan.cells.count
        let memory = quantity(podMemoryBytes(plannedBytes: sizes.plannedBytes))
        let storage = quantity(volumeBytes(traceBytes: sizes.traceBytes, cells: cells))
        let parallelism = max(1, min(o.parallelism, cells))
        let study = quoted(o.studyPath)
        let image = quoted(o.image)
        let claim = quoted(o.claim)
        return """
            # tracetool study: \(URL(fileURLWithPath: plan.spec.path).lastPathComponent), \(cells) cells; made by
            #   tracetool study plan STUDY --emit k8s --image IMAGE (docs/STUDY.md "On Kubernetes").
            # 1. kubectl apply -f FILE -l tracetool/stage=volume, then put the study file, its traces and
            #    its output folder on the volume so that the study file is at \(o.studyPath) (the volume
            #    is /study in every pod).
            # 2. kubectl apply -f FILE -l tracetool/stage=run: the Indexed Job runs cell
            #    JOB_COMPLETION_INDEX in each pod; kubectl wait --for=condition=complete job/tracetool-study.
            # 3. kubectl apply -f FILE -l tracetool/stage=merge: the merge Job writes the study's
            #    merged.csv, merged.json and report.html, and fails listing any cell without a result.
            # Memory per pod: the largest trace's model state (\(Int((sizes.plannedBytes / Double(mebibyte)).rounded(.up))) MiB) × 4/3 + 96 MiB, rounded up;
            # tracetool's default --max-memory is ¾ of the pod's limit, so a cell never meets the OOM killer.
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: \(claim)
              labels: {tracetool/stage: volume}
            spec:
              accessModes: ["ReadWriteMany"]
              resources:
                requests: {storage: \(storage)}
            ---
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: "tracetool-study"
              labels: {tracetool/stage: run}
            spec:
              completionMode: Indexed
              completions: \(cells)
              parallelism: \(parallelism)
              backoffLimitPerIndex: 2
              template:
                spec:
                  restartPolicy: Never
                  containers:
                    - name: cell
                      image: \(image)
                      command: ["tracetool", "study", "run", \(study), "--cell-from-env", "--quiet"]
                      resources:
                        requests: {cpu: "1", memory: \(memory)}
                        limits: {memory: \(memory)}
                      volumeMounts:
                        - {name: study, mountPath: /study}
                  volumes:
                    - name: study
                      persistentVolumeClaim: {claimName: \(claim)}
            ---
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: "tracetool-study-merge"
              labels: {tracetool/stage: merge}
            spec:
              backoffLimit: 0
              template:
                spec:
                  restartPolicy: Never
                  containers:
                    - name: merge
                      image: \(image)
                      command: ["tracetool", "study", "merge", \(study)]
                      resources:
                        requests: {cpu: "1", memory: 512Mi}
                        limits: {memory: 512Mi}
                      volumeMounts:
                        - {name: study, mountPath: /study}
                  volumes:
                    - name: study
                      persistentVolumeClaim: {claimName: \(claim)}

            """
    }
}
