import Foundation
import TraceFormat

/// The value of a knob a registration declares (the policy keeps those by name; the paper's
/// core knobs are `Policy`'s stored properties).
public enum KnobValue: Equatable, Sendable {
    case number(Double)
    case integer(Int)
    /// A switch (`on`/`off`) or an implementation's registry name.
    case name(String)
}

/// One knob: its name, unit and meaning, how to read and set it as text, and its rule. The
/// paper's core knobs are declared in `PolicyKnobs.core` over `Policy`'s stored properties;
/// every other knob is declared by the registration that owns it (a family, an implementation
/// or a mechanism), beside its code, with its default and range, and kept in `Policy.extra`.
/// `policy show`, validation, policy files, `--set` and sweeps all work from these
/// declarations.
public struct PolicyKnob: Sendable {
    public let name: String
    public let unit: String
    public let help: String
    /// A registered knob: the knob after which `policy show` lists it (before which, with
    /// `listedBefore`), and its default.
    private(set) var after: String?
    private(set) var listedBefore = false
    let initial: KnobValue?
    let get: @Sendable (Policy) -> String
    let set: @Sendable (inout Policy, String) throws(PolicyError) -> Void
    /// The knob's own rule (its range), checked by `Policy.validate`.
    let check: @Sendable (Policy) throws(PolicyError) -> Void

    /// The knob's value in `p`, as `policy show` prints it.
    public func value(of p: Policy) -> String { get(p) }

    /// The same knob, listed just before `knob` instead.
    func listed(before knob: String) -> PolicyKnob {
        var k = self
        k.after = knob
        k.listedBefore = true
        return k
    }
}

extension PolicyKnob {
    static func number(_ s: String, _ key: String) throws(PolicyError) -> Double {
        guard let v = Double(s), v.isFinite else {
            throw PolicyError.badValue(key: key, message: "\"\(s)\" is not a finite number")
        }
        return v
    }

    static func seconds(_ s: String, _ key: String) throws(PolicyError) -> Double {
        do { return try Units.duration(s).seconds } catch {
            throw PolicyError.badValue(key: key, message: error.description)
        }
    }

    static func integer(_ s: String, _ key: String) throws(PolicyError) -> Int {
        guard let v = Int(s) else { throw PolicyError.badValue(key: key, message: "\"\(s)\" is not an integer") }
        return v
    }

    /// Printed as `policy show` prints numbers: whole numbers without a decimal point.
    static func fmt(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    /// "must be in [lo, hi] unit".
    static func inRange(_ v: Double, _ r: ClosedRange<Double>, _ key: String, _ unit: String) throws(PolicyError) {
        guard v.isFinite && r.contains(v) else {
            throw PolicyError.badValue(
                key: key,
                message: "must be in [\(fmt(r.lowerBound)), \(fmt(r.upperBound))]\(unit.isEmpty ? "" : " " + unit)")
        }
    }

    // MARK: knobs of registrations (kept in Policy.extra)

    /// A number with a default, a range and a unit (or, instead of a range, a `rule` that says
    /// what is wrong with a value, given the policy).
    public static func number(
        _ name: String, unit: String, default d: Double, range: ClosedRange<Double>? = nil, after: String,
        help: String, rule: (@Sendable (Double, Policy) -> String?)? = nil
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: unit, help: help, after: after, initial: .number(d),
            get: { fmt($0.number(name)) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p.extra[name] = .number(try number(s, name)) },
            check: { (p: Policy) throws(PolicyError) in
                if let range { try inRange(p.number(name), range, name, unit) }
                if let rule, let problem = rule(p.number(name), p) {
                    throw PolicyError.badValue(key: name, message: problem)
                }
            })
    }

    /// A duration, set with a unit (`2s`, `1m`) and kept in seconds.
    public static func duration(
        _ name: String, default d: Double, range: ClosedRange<Double>, after: String, help: String
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: "s", help: help, after: after, initial: .number(d),
            get: { fmt($0.number(name)) + "s" },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p.extra[name] = .number(try seconds(s, name)) },
            check: { (p: Policy) throws(PolicyError) in try inRange(p.number(name), range, name, "s") })
    }

    /// A whole number; `rule` checks it against the policy (it may depend on another knob).
    public static func integer(
        _ name: String, default d: Int, after: String, help: String,
        rule: @escaping @Sendable (Int, Policy) -> String?
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: "", help: help, after: after, initial: .integer(d),
            get: { String($0.integer(name)) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p.extra[name] = .integer(try integer(s, name)) },
            check: { (p: Policy) throws(PolicyError) in
                if let problem = rule(p.integer(name), p) { throw PolicyError.badValue(key: name, message: problem) }
            })
    }

    /// One of a few names (`on|off`).
    public static func choice(
        _ name: String, _ options: [String], default d: String, after: String, help: String
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: options.joined(separator: "|"), help: help, after: after, initial: .name(d),
            get: { $0.name(name) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in
                guard options.contains(s) else {
                    throw PolicyError.badValue(
                        key: name, message: "\"\(s)\" is not one of \(options.joined(separator: ", "))")
                }
                p.extra[name] = .name(s)
            },
            check: { _ throws(PolicyError) in })
    }

    /// The knob that picks an implementation of family `F` by its registry name, when the
    /// family owns it (its value kept in `Policy.extra`).
    public static func family<F: PolicyFamily>(_: F.Type, default d: String, after: String, help: String) -> PolicyKnob
    {
        PolicyKnob(
            name: F.knob, unit: F.names.joined(separator: "|"), help: help, after: after, initial: .name(d),
            get: { $0.name(F.knob) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in
                guard F.isRegistered(s) else {
                    throw PolicyError.badValue(
                        key: F.knob, message: "\"\(s)\" is not one of \(F.names.joined(separator: ", "))")
                }
                p.extra[F.knob] = .name(s)
            },
            check: { (p: Policy) throws(PolicyError) in
                let s = p.name(F.knob)
                guard F.isRegistered(s) else {
                    throw PolicyError.badValue(
                        key: F.knob, message: "\"\(s)\" is not one of \(F.names.joined(separator: ", "))")
                }
            })
    }

    /// A rule across knobs that belongs to the registration declaring `name` (checked after
    /// every knob's own).
    public static func rule(_ name: String, _ rule: @escaping @Sendable (Policy) -> String?) -> PolicyKnob {
        PolicyKnob(
            name: "", unit: "", help: "", after: nil, initial: nil, get: { _ in "" },
            set: { (_: inout Policy, _: String) throws(PolicyError) in },
            check: { (p: Policy) throws(PolicyError) in
                if let problem = rule(p) { throw PolicyError.badValue(key: name, message: problem) }
            })
    }

    /// A cross-knob rule rather than a knob (`rule`).
    var isRule: Bool { name.isEmpty }

    // MARK: the core knobs (Policy's stored properties)

    static func core(
        _ name: String, _ unit: String, _ help: String, _ kp: WritableKeyPath<Policy, Double> & Sendable,
        range: ClosedRange<Double>, rangeUnit: String? = nil
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: unit, help: help, after: nil, initial: nil,
            get: { fmt($0[keyPath: kp]) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p[keyPath: kp] = try number(s, name) },
            check: { (p: Policy) throws(PolicyError) in try inRange(p[keyPath: kp], range, name, rangeUnit ?? unit) })
    }

    static func coreDuration(
        _ name: String, _ help: String, _ kp: WritableKeyPath<Policy, Double> & Sendable,
        range: ClosedRange<Double>
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: "s", help: help, after: nil, initial: nil,
            get: { fmt($0[keyPath: kp]) + "s" },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p[keyPath: kp] = try seconds(s, name) },
            check: { (p: Policy) throws(PolicyError) in try inRange(p[keyPath: kp], range, name, "s") })
    }

    static func coreInteger(
        _ name: String, _ help: String, _ kp: WritableKeyPath<Policy, Int> & Sendable,
        rule: @escaping @Sendable (Int) -> String?
    ) -> PolicyKnob {
        PolicyKnob(
            name: name, unit: "", help: help, after: nil, initial: nil,
            get: { String($0[keyPath: kp]) },
            set: { (p: inout Policy, s: String) throws(PolicyError) in p[keyPath: kp] = try integer(s, name) },
            check: { (p: Policy) throws(PolicyError) in
                if let problem = rule(p[keyPath: kp]) { throw PolicyError.badValue(key: name, message: problem) }
            })
    }

    static func coreChoice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ help: String,
        _ kp: WritableKeyPath<Policy, E> & Sendable
    ) -> PolicyKnob where E.RawValue == String {
        PolicyKnob(
            name: name, unit: E.allCases.map(\.rawValue).joined(separator: "|"), help: help, after: nil, initial: nil,
            get: { $0[keyPath: kp].rawValue },
            set: { (p: inout Policy, s: String) throws(PolicyError) in
                guard let v = E(rawValue: s) else {
                    throw PolicyError.badValue(
                        key: name,
                        message: "\"\(s)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                p[keyPath: kp] = v
            },
            check: { _ throws(PolicyError) in })
    }

    /// A core knob that picks an implementation of family `F` by its registry name.
    static func coreFamily<F: PolicyFamily>(
        _ help: String, _ kp: WritableKeyPath<Policy, ImplementationName<F>> & Sendable
    ) -> PolicyKnob {
        PolicyKnob(
            name: F.knob, unit: F.names.joined(separator: "|"), help: help, after: nil, initial: nil,
            get: { $0[keyPath: kp].rawValue },
            set: { (p: inout Policy, s: String) throws(PolicyError) in
                guard F.isRegistered(s) else {
                    throw PolicyError.badValue(
                        key: F.knob, message: "\"\(s)\" is not one of \(F.names.joined(separator: ", "))")
                }
                p[keyPath: kp] = ImplementationName(rawValue: s)
            },
            check: { (p: Policy) throws(PolicyError) in
                let s = p[keyPath: kp].rawValue
                guard F.isRegistered(s) else {
                    throw PolicyError.badValue(
                        key: F.knob, message: "\"\(s)\" is not one of \(F.names.joined(separator: ", "))")
                }
            })
    }
}
