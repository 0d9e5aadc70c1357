/// Salting (docs/MODEL.md "Salting"): with `salting=on`, pages are shared only between VMs of
/// the same salt (a VM's own id unless `--vm ID:salt=N` gives it one), as ESX's
/// `Mem.ShareForceSalting` 2 does; off, across all VMs (the paper). As a mechanism it only
/// puts each VM in the share group of its salt; the sharing table does the rest.
final class Salting: EngineMechanism {
    static func make(_ policy: Policy) -> (any EngineMechanism)? { policy.salting == .on ? Salting() : nil }

    func attach(_ engine: ReplayEngine) {
        for vm in engine.vms { vm.shareGroup = vm.config.salt ?? vm.config.id }
    }

    static let knobs: [PolicyKnob] = [
        .choice(
            "salting", ["on", "off"], default: "off", after: "sharing",
            help: "share only between VMs of the same salt (--vm ID:salt=N; default each VM's own id: intra-VM only)")
    ]
}

extension Policy {
    /// `salting` (Salting).
    public var salting: Switch {
        get { Switch(rawValue: name("salting"))! }
        set { setExtra("salting", .name(newValue.rawValue)) }
    }
}
