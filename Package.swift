// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "tracetool",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tracetool", targets: ["tracetool"]),
        .library(name: "TraceFormat", targets: ["TraceFormat"]),
        .library(name: "Replay", targets: ["Replay"]),
        .library(name: "Analyzer", targets: ["Analyzer"]),
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
        .target(name: "TraceFormat", dependencies: ["CZstd"]),
        .target(name: "Replay", dependencies: ["TraceFormat"]),
        .target(name: "Analyzer", dependencies: ["TraceFormat", "Replay"]),
        .executableTarget(
            name: "tracetool",
            dependencies: [
                "TraceFormat", "Replay", "Analyzer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TraceFormatTests", dependencies: ["TraceFormat"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "TraceFormat"]),
        .testTarget(name: "CLITests", dependencies: ["TraceFormat", "tracetool"]),
    ]
)
