/// Salting (docs/MODEL.md "Salting"): with `salting=on`, pages are shared only between VMs of
/// the same salt (a VM's own id unless `--vm ID:salt=N` gives it one), as ESX's
/// `Mem.ShareForceSalting` 2 does; off, across all VMs (the paper).
enum Salting {
    static let knobs: [PolicyKnob] = [
        .choice("salting", ["on", "off"], default: "off", after: "sharing",
                help: "share only between VMs of the same salt (--vm ID:salt=N; default each VM's own id: intra-VM only)"),
    ]
}

extension Policy {
    /// `salting` (Salting).
    public var salting: Switch {
        get { Switch(rawValue: name("salting"))! }
        set { setExtra("salting", .name(newValue.rawValue)) }
    }
}
