// swift-tools-version:6.1
import PackageDescription

/// The decoder and the engine keep their state in final classes touched on every record; the
/// dynamic exclusivity checks on those accesses cost ~10% of replay time (measured with perf),
/// so release builds of these two modules turn them off. Debug builds and tests keep them.
let hotLoops: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    // Debug builds (and so the tests) optimise these two modules too: the golden and
    // documentation tests replay millions of records, ~5x faster optimised. Nothing is lost to
    // it: the engine's checks are explicit code under `checkEveryStep` (on in DEBUG builds), not
    // `assert`, and exclusivity stays checked.
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "tracetool",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tracetool", targets: ["tracetool"]),
        .library(name: "TraceFormat", targets: ["TraceFormat"]),
        .library(name: "Replay", targets: ["Replay"]),
        .library(name: "Analyzer", targets: ["Analyzer"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Scenarios", targets: ["Scenarios"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CZstd",
            path: "Sources/CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .systemLibrary(
            name: "CXXHash",
            path: "Sources/CXXHash",
            pkgConfig: "libxxhash",
            providers: [.apt(["libxxhash-dev"])]
        ),
        // One inline function: a cache prefetch hint for the hot per-page loops.
        .target(name: "CPrefetch"),
        .target(name: "TraceFormat", dependencies: ["CZstd"], swiftSettings: hotLoops),
        .target(name: "Replay", dependencies: ["TraceFormat", "CPrefetch"], swiftSettings: hotLoops),
        // Synthetic traces of the paper's scenarios (`tracetool gen`): they carry knowledge of
        // the model (sizes, schedules), so they live apart from the format.
        .target(name: "Scenarios", dependencies: ["TraceFormat"]),
        // The capture driver; the TCG plugin and the guest program under it are C built by
        // scripts/capture-setup.sh with gcc (QEMU loads one, the guest runs the other).
        .target(name: "Capture", dependencies: ["TraceFormat", "CXXHash", "CZstd"], exclude: ["Plugin", "Guest", "Server"]),
        .target(name: "Analyzer", dependencies: ["TraceFormat", "Replay", "Scenarios", "CXXHash", "CPrefetch"]),
        .executableTarget(
            name: "tracetool",
            dependencies: [
                "TraceFormat", "Replay", "Analyzer", "Capture", "Scenarios",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fuzz targets (scripts/fuzz.sh builds them with -DFUZZING and libFuzzer; built
        // plainly, each replays the input files it is given, to reproduce a finding).
        .executableTarget(name: "FuzzTraceBinary", dependencies: ["TraceFormat"], path: "Fuzz/FuzzTraceBinary"),
        .executableTarget(name: "FuzzTraceText", dependencies: ["TraceFormat"], path: "Fuzz/FuzzTraceText"),
        .executableTarget(name: "FuzzLackey", dependencies: ["TraceFormat"], path: "Fuzz/FuzzLackey"),
        .executableTarget(name: "FuzzOptions", dependencies: ["TraceFormat", "Replay"], path: "Fuzz/FuzzOptions"),
        .testTarget(name: "TraceFormatTests", dependencies: ["TraceFormat", "Scenarios"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "Analyzer", "TraceFormat", "Scenarios"]),
        // The golden reports, the HTML report and the report renderers.
        .testTarget(name: "AnalyzerTests", dependencies: ["Analyzer", "Replay", "TraceFormat", "Scenarios"], exclude: ["Golden"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "TraceFormat"]),
        .testTarget(name: "CLITests", dependencies: ["TraceFormat", "Replay", "Analyzer", "tracetool"]),
    ]
)
