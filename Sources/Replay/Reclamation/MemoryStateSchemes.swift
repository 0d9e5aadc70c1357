/// The free-memory state scheme (the `memoryStates` knob; docs/MODEL.md "Free-memory states"):
/// a policy family whose implementations set the thresholds the engine's states follow.
///
/// Contract. The engine asks the registered implementation for its thresholds once, when it
/// starts (`thresholds`). `FreeState.next` moves between states by them (a scheme without a
/// clear threshold, `clear` = 0, never enters `clear`); targets and balloon deflation aim at
/// `Thresholds.aim`; the reclamation tick inflates balloons in soft and below, or in soft only
/// when the scheme has a clear state (vSphere 6's balloon stops in hard).
public enum MemoryStateSchemes: RegisteredFamily {
    public static let knob = "memoryStates"

    struct Registration: Sendable, ImplementationRegistration {
        let implementation: Implementation
        let thresholds: @Sendable (_ machinePages: UInt64, _ policy: Policy, _ pageSize: UInt64) -> FreeState.Thresholds
    }

    static let registry: [Registration] = [
        Registration(
            implementation: Implementation(
                name: "paper", summary: "high/soft/hard/low at highFree/softFree/hardFree/lowFree of M"),
            thresholds: { m, p, _ in
                func pages(_ f: Double) -> UInt64 { UInt64((Double(m) * f).rounded(.up)) }
                return FreeState.Thresholds(
                    high: pages(p.highFree), soft: pages(p.softFree), hard: pages(p.hardFree),
                    low: pages(p.lowFree), margin: pages(p.hysteresis))
            }),
        Registration(
            implementation: Implementation(
                name: "vsphere6", summary: "high/clear/soft/hard/low at 400/100/64/32/16% of vSphere's minFree"),
            thresholds: { m, p, pageSize in
                let minFree = FreeState.minFreePages(machinePages: m, pageSize: pageSize)
                func of(_ f: Double) -> UInt64 { UInt64((Double(minFree) * f).rounded(.up)) }
                return FreeState.Thresholds(
                    high: of(4), soft: of(0.64), hard: of(0.32), low: of(0.16),
                    margin: UInt64((Double(m) * p.hysteresis).rounded(.up)), clear: minFree)
            }),
    ]
}

public typealias MemoryStatesName = ImplementationName<MemoryStateSchemes>

extension ImplementationName where Family == MemoryStateSchemes {
    public static let paper: Self = "paper"
    public static let vsphere6: Self = "vsphere6"
}
