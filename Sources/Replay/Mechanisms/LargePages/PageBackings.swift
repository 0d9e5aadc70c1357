/// How guest memory is backed (the `largePages` knob; docs/MODEL.md "Large pages"): a policy
/// family whose implementations give each VM a backing map, or none.
///
/// Contract. The engine asks the registered implementation for a mechanism when it starts
/// (`make`; nil: every page is a 4 KiB page). The mechanism follows EngineMechanism's hook
/// order, watches pages (PageWatcher) and gates sharing (SharingGate); `on` is LargePages
/// (its rules are LargePageMap's contract). A new implementation is one file with its
/// registration and one line in `registry`.
public enum PageBackings: RegisteredFamily {
    public static let knob = "largePages"

    /// The family's knob and large pages' threshold.
    static let knobs: [PolicyKnob] = [
        .family(
            PageBackings.self, default: "off", after: "freePageBlock",
            help:
                "back wholly backed aligned 2 MiB blocks with large pages: not shared, ballooned or swapped until split"
        ),
        .number(
            "largePageBreakFree", unit: "of M", default: 0.24, after: "largePages",
            help:
                "largePages=on, memoryStates=paper: free memory below which the host splits every large page (vsphere6: below its high threshold)"
        ),
        .rule("largePageBreakFree") { p in
            guard p.largePages == .on && p.memoryStates == .paper else { return nil }
            let v = p.largePageBreakFree
            return v.isFinite && v >= p.highFree && v < 1
                ? nil : "must be in [highFree, 1) of M (large pages are split before ballooning and paging start)"
        },
    ]

    struct Registration: Sendable, ImplementationRegistration {
        let implementation: Implementation
        let make: @Sendable (Policy) -> (any EngineMechanism)?
    }

    static let registry: [Registration] = [
        Registration(
            implementation: Implementation(name: "off", summary: "4 KiB pages only (the paper)"),
            make: { _ in nil }),
        Registration(
            implementation: Implementation(
                name: "on",
                summary:
                    "2 MiB large pages over wholly backed aligned blocks: not shared, ballooned or swapped until split under pressure"
            ),
            make: { LargePages(policy: $0) }),
    ]
}

public typealias PageBackingName = ImplementationName<PageBackings>

extension ImplementationName where Family == PageBackings {
    public static let off: Self = "off"
    public static let on: Self = "on"
}

extension Policy {
    /// `largePages` (PageBackings) and, vSphere 6's breaking point with the paper's 6% as
    /// minFree, `largePageBreakFree` (24% of M).
    public var largePages: PageBackingName {
        get { PageBackingName(rawValue: name("largePages")) }
        set { setExtra("largePages", .name(newValue.rawValue)) }
    }
    public var largePageBreakFree: Double {
        get { number("largePageBreakFree") }
        set { setExtra("largePageBreakFree", .number(newValue)) }
    }
}
