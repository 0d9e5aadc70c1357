import Analyzer
import ArgumentParser
import Foundation
import TraceFormat

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Many traces × policies × grids × seeds: plan cells, run them here or on a cluster, merge.",
        discussion: """
            A study file (JSON; docs/STUDY.md) names traces (paths or globs, relative to the file), \
            policies, sweeps, seeds, host settings, settle/until and an output folder. Each cell (one \
            trace × policy × grid cell × seed) has a stable id and a hash of its inputs. `run` writes \
            each cell's result as OUT/cells/ID.json, atomically, and skips cells whose result is there \
            with the same inputs, so a rerun does only what is missing; a Slurm array task runs \
            `study run STUDY --cell-from-env` (SLURM_ARRAY_TASK_ID), a Kubernetes Indexed Job the same \
            (JOB_COMPLETION_INDEX). `merge` writes OUT/merged.csv, OUT/merged.json and OUT/report.html \
            and lists every cell without a result.
            """,
        subcommands: [Plan.self, Run.self, Local.self, Merge.self])

    struct Common: ParsableArguments {
        @Argument(help: "The study file (JSON).") var study: String
        @Option(
            help: ArgumentHelp(
                "The output folder (default: the study's \"output\", relative to the study file).", valueName: "DIR"))
        var out: String?

        /// The plan; `hashing`: the cells whose inputs to hash (all when nil).
        func plan(hashing: Set<Int>? = nil) throws -> (StudyPlan, String) {
            do {
                let spec = try StudySpec.load(study)
                let plan = try StudyPlan.make(spec, hashing: hashing)
                let dir = spec.outputDir(override: out)
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), !isDir.boolValue {
                    throw CommandFailure.usage("\(dir): the output folder is not a folder")
                }
                if let problem = plan.outputProblem(out: dir) {
                    throw CommandFailure.usage(problem)
                }
                return (plan, dir)
            } catch let e as StudySpec.Failure {
                throw CommandFailure.usage(e.description)
            }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the cells, one per line: id, input hash, trace, run; or the manifests that run them.",
            discussion: """
                With --emit k8s: the Kubernetes manifests for this study instead (a ReadWriteMany \
                PersistentVolumeClaim, an Indexed Job with one completion per cell, the merge Job), with \
                the image given, memory per pod from the study's largest trace, and the volume's size \
                from its traces (docs/STUDY.md "On Kubernetes").
                """)
        enum Emit: String, ExpressibleByArgument, CaseIterable { case k8s }
        @OptionGroup var common: Common
        @Option(help: "Print manifests that run the study instead of the cells.") var emit: Emit?
        @Option(
            help: ArgumentHelp("With --emit: the image the pods run (scripts/image.sh builds one).", valueName: "REF"))
        var image: String?
        @Option(
            help: ArgumentHelp(
                "With --emit: the study file's path inside the pods, where the volume is /study (default: /study/FILE).",
                valueName: "PATH"))
        var studyPath: String?
        @Option(help: "With --emit: pods at once (at most the number of cells).") var parallelism: Int = 4
        @Option(help: "With --emit: the PersistentVolumeClaim's name.") var claim: String = "tracetool-study"

        func validate() throws {
            if emit == nil {
                for (given, name) in [(image != nil, "--image"), (studyPath != nil, "--study-path")] where given {
                    throw ValidationError("\(name) goes with --emit k8s")
                }
                return
            }
            guard let image, !image.isEmpty, !image.contains(where: { $0.isWhitespace || $0 == "\"" }) else {
                throw ValidationError("--emit k8s needs --image REF (an image reference, no spaces or quotes)")
            }
            guard parallelism >= 1 else { throw ValidationError("--parallelism must be at least 1") }
            let dns = claim.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
            guard dns, !claim.isEmpty, claim.count <= 63, claim.first != "-", claim.last != "-" else {
                throw ValidationError("--claim \(claim): a Kubernetes name is 1-63 of a-z, 0-9 and '-'")
            }
            if let studyPath, !studyPath.hasPrefix("/study/") || studyPath.contains("\"") {
                throw ValidationError(
                    "--study-path \(studyPath): a path under /study/, where the pods mount the volume")
            }
        }

        func run() throws {
            let (plan, _) = try common.plan()
            guard emit == .k8s, let image else {
                writeStdout(plan.text)
                return
            }
            let path = studyPath ?? "/study/" + URL(fileURLWithPath: common.study).lastPathComponent
            if studyPath == nil {
                // The volume holds the study file's folder: what lies outside it must be placed by hand.
                let outside =
                    plan.spec.traces.filter { $0.hasPrefix("/") || $0.hasPrefix("..") }
                    + ([plan.spec.output].filter { $0.hasPrefix("/") || $0.hasPrefix("..") })
                for p in outside {
                    printWarning(
                        "\(common.study): \(p) is outside the study's folder: put it on the volume at the same place relative to the study file, and give --study-path"
                    )
                }
            }
            var o = StudyManifests.Options(image: image, studyPath: path)
            o.parallelism = parallelism
            o.claim = claim
            let sizes = try StudyManifests.sizes(plan)
            writeStdout(StudyManifests.kubernetes(plan, sizes: sizes, options: o))
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run some cells (--cell, --cells or --cell-from-env); skips those already done.")
        @OptionGroup var common: Common
        @Option(help: "A cell id (repeatable).") var cell: [Int] = []
        @Option(help: ArgumentHelp("A range of cell ids, both ends included.", valueName: "I..J")) var cells: String?
        @Flag(
            help: "The cell id from SLURM_ARRAY_TASK_ID (Slurm array) or JOB_COMPLETION_INDEX (Kubernetes Indexed Job)."
        ) var cellFromEnv = false
        @Option(help: "Worker threads.") var jobs: Int = 1
        @Flag(name: .shortAndLong, help: "No line per finished cell on stderr.") var quiet = false

        func validate() throws {
            guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
            guard !cell.isEmpty || cells != nil || cellFromEnv else {
                throw ValidationError("name the cells: --cell I, --cells I..J or --cell-from-env")
            }
            if let cells { _ = try range(cells) }
        }

        func range(_ s: String) throws -> ClosedRange<Int> {
            let p = s.components(separatedBy: "..")
            guard p.count == 2, let a = Int(p[0]), let b = Int(p[1]), a >= 0, a <= b else {
                throw ValidationError("--cells \(s): expected I..J with 0 ≤ I ≤ J")
            }
            return a...b
        }

        func run() throws {
            var ids = cell
            if let cells {
                let r = try range(cells)
                // No study has more cells than this: refuse before listing the range.
                guard r.upperBound < StudySpec.maxCells else {
                    throw CommandFailure.usage("--cells \(cells): a study has at most \(StudySpec.maxCells) cells")
                }
                ids += Array(r)
            }
            if cellFromEnv {
                switch StudyRunner.cellFromEnvironment(ProcessInfo.processInfo.environment) {
                case .success(let i): ids.append(i)
                case .failure(let e):
                    throw CommandFailure.usage(e.description)
                }
            }
            // Only the traces of these cells are read to hash their inputs.
            let (plan, out) = try common.plan(hashing: Set(ids))
            if let bad = ids.first(where: { $0 >= plan.cells.count }) {
                throw CommandFailure.usage("no cell \(bad): the study has cells 0…\(plan.cells.count - 1)")
            }
            try StudyCommand.execute(plan, ids: ids, out: out, jobs: jobs, quiet: quiet)
        }
    }

    struct Local: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every cell here (one decode serves the cells of a trace); skips those already done.")
        @OptionGroup var common: Common
        @Option(help: "Worker threads.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
        @Flag(name: .shortAndLong, help: "No line per finished cell on stderr.") var quiet = false
        func validate() throws { guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") } }
        func run() throws {
            let (plan, out) = try common.plan()
            try StudyCommand.execute(plan, ids: nil, out: out, jobs: jobs, quiet: quiet)
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Gather the results into OUT/merged.csv, OUT/merged.json and OUT/report.html.",
            discussion:
                "Cells without a result are listed in merged.json and at the top of the report (the first few on stderr); the exit status is then 1."
        )
        @OptionGroup var common: Common
        func run() throws {
            let (plan, out) = try common.plan()
            let m = StudyMerge.merge(plan, out: out)
            do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                throw CommandFailure.failed("\(out): cannot make the output folder: \(error.localizedDescription)")
            }
            try AtomicOutput.write(m.csv, to: out + "/merged.csv")
            try AtomicOutput.write(BuildStamp.stamp(m.json, as: .json), to: out + "/merged.json")
            try AtomicOutput.write(BuildStamp.stamp(m.html, as: .html), to: out + "/report.html")
            var line =
                "study: merged \(m.merged) of \(plan.cells.count) cells into \(out)/merged.csv, merged.json, report.html"
            if !m.missing.isEmpty {
                // One line: the first few missing cells; merged.json and the report list them all.
                let shown = m.missing.prefix(3).map { "cell \($0.cell) (\($0.trace), \($0.run)) missing: \($0.reason)" }
                line +=
                    "; \(m.missing.count) missing (all listed in merged.json and report.html): "
                    + shown.joined(separator: "; ")
                    + (m.missing.count > 3 ? "; and \(m.missing.count - 3) more" : "")
            }
            if !m.missing.isEmpty { throw CommandFailure.failed(line) }
            printNote(line)
        }
    }

    static func execute(_ plan: StudyPlan, ids: [Int]?, out: String, jobs: Int, quiet: Bool) throws {
        let o: StudyRunner.Outcome
        do {
            o = try StudyRunner.run(
                plan, ids: ids, out: out, jobs: jobs, log: quiet ? nil : { printNote("study: \($0)") })
        } catch {
            throw CommandFailure.failed(error.description)
        }
        let line =
            "study: ran \(o.ran) cells (\(o.failed.count) failed), skipped \(o.skipped) already done; results in \(out)/cells"
        if !o.failed.isEmpty { throw CommandFailure.failed(line) }
        printNote(line)
    }
}
