// swift-tools-version:6.1
import Foundation
import PackageDescription

// Linux only: the capture reads guests through /proc and the engine maps memory with Glibc
// (Swift 6.1 or later on Debian; scripts/deps.sh installs the C libraries). The hot classes
// of the decoder and the engine mark their stored properties @exclusivity(unchecked) instead
// of building with -enforce-exclusivity=unchecked, so these libraries take no unsafe flags and
// another package can depend on them; the tests run an optimised build with the engine's
// step-by-step checks (scripts/test.sh, `-Xswiftc -DTRACETOOL_CHECKS`).
//
// What the binary says it was built from (`tracetool --version`, every report's header): the
// environment variables TRACETOOL_COMMIT and TRACETOOL_BUILD_DATE, when set, become C macros of
// the CBuildInfo target only (scripts/lib.sh and scripts/package.sh set them from git), so a new
// commit recompiles one C file. Characters outside [A-Za-z0-9 +-.:_] are dropped.
let buildEnvironment = ProcessInfo.processInfo.environment
let buildInfoDefines: [CSetting] = [
    ("TRACETOOL_COMMIT", "TRACETOOL_COMMIT"), ("TRACETOOL_BUILD_DATE", "TRACETOOL_BUILD_DATE"),
]
.compactMap { macro, variable in
    guard let value = buildEnvironment[variable], !value.isEmpty else { return nil }
    let kept = value.filter { $0.isASCII && ($0.isLetter || $0.isNumber || " +-.:_".contains($0)) }
    return .define(macro, to: "\"" + kept + "\"")
}

let package = Package(
    name: "tracetool",
    products: [
        .executable(name: "tracetool", targets: ["tracetool"]),
        .library(name: "TraceFormat", targets: ["TraceFormat"]),
        .library(name: "Replay", targets: ["Replay"]),
        .library(name: "Analyzer", targets: ["Analyzer"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Scenarios", targets: ["Scenarios"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
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
        .target(name: "CBuildInfo", cSettings: buildInfoDefines),
        .target(name: "TraceFormat", dependencies: ["CZstd", "CBuildInfo"]),
        .target(name: "Replay", dependencies: ["TraceFormat", "CPrefetch"]),
        // Synthetic traces of the paper's scenarios (`tracetool gen`): they carry knowledge of
        // the model (sizes, schedules), so they live apart from the format.
        .target(name: "Scenarios", dependencies: ["TraceFormat"]),
        // The capture driver; the TCG plugin and the guest program under it are C built by
        // scripts/capture-setup.sh with gcc (QEMU loads one, the guest runs the other).
        .target(
            name: "Capture", dependencies: ["TraceFormat", "CXXHash", "CZstd"], exclude: ["Plugin", "Guest", "Server"]),
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
        .executableTarget(name: "FuzzStudy", dependencies: ["Analyzer"], path: "Fuzz/FuzzStudy"),
        .executableTarget(name: "FuzzCapture", dependencies: ["Capture"], path: "Fuzz/FuzzCapture"),
        .testTarget(name: "TraceFormatTests", dependencies: ["TraceFormat", "Scenarios"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "Analyzer", "TraceFormat", "Scenarios"]),
        // The golden reports, the HTML report and the report renderers.
        .testTarget(
            name: "AnalyzerTests", dependencies: ["Analyzer", "Replay", "TraceFormat", "Scenarios"], exclude: ["Golden"]
        ),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "TraceFormat"]),
        .testTarget(name: "CLITests", dependencies: ["TraceFormat", "Replay", "Analyzer", "tracetool"]),
    ]
)
