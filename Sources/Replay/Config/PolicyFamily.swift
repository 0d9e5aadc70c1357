/// A family of interchangeable policy implementations (sharing scanner, activity estimator,
/// swap-victim chooser; docs/ARCHITECTURE.md "Policy families"). Each family is a protocol
/// whose doc comment states its contract and hook order, a registry listing its
/// implementations, and one file per implementation. A knob names an implementation by its
/// registry name; `policy show` lists the registry.
public protocol PolicyFamily: SendableMetatype {
    /// The knob that picks an implementation (`sharing`, `estimator`, `swapVictim`).
    static var knob: String { get }
    /// Every implementation, in the order `policy show` lists them.
    static var implementations: [Implementation] { get }
}

/// What every registered implementation declares: its name (as knobs and JSON spell it) and
/// a one-line summary.
public struct Implementation: Sendable, Equatable {
    public let name: String
    public let summary: String
    public init(name: String, summary: String) {
        self.name = name
        self.summary = summary
    }
}

extension PolicyFamily {
    public static var names: [String] { implementations.map(\.name) }
    public static func isRegistered(_ name: String) -> Bool { implementations.contains { $0.name == name } }
}

/// The registry name of one implementation of `Family`: a string that encodes as one (JSON
/// and reports spell it as the name), typed so a sharing name cannot pick a swap victim.
public struct ImplementationName<Family: PolicyFamily>: RawRepresentable, Hashable, Sendable, Codable,
    ExpressibleByStringLiteral, CustomStringConvertible
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// A registry entry of any family: it declares its implementation's name and summary.
protocol ImplementationRegistration {
    var implementation: Implementation { get }
}

/// A family with a registry: its `implementations` and the entry a name picks come from it.
protocol RegisteredFamily: PolicyFamily {
    associatedtype Registration: ImplementationRegistration
    static var registry: [Registration] { get }
}

extension RegisteredFamily {
    public static var implementations: [Implementation] { registry.map(\.implementation) }

    /// The registry entry `name` picks.
    static func registration(_ name: ImplementationName<Self>) -> Registration {
        registry.entry(named: name.rawValue, knob: knob)
    }

    /// The registry entry `policy` picks, for a family that declares its own knob.
    static func registration(for policy: Policy) -> Registration {
        registry.entry(named: policy.name(knob), knob: knob)
    }
}

extension Array where Element: ImplementationRegistration {
    /// The entry named `name`; `Policy.validate` has refused unregistered names before any
    /// engine asks, so a miss is a bug.
    func entry(named name: String, knob: String) -> Element {
        guard let r = first(where: { $0.implementation.name == name }) else {
            preconditionFailure("\(knob) \(name) is not registered (Policy.validate checks names)")
        }
        return r
    }
}
