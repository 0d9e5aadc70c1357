import Foundation
import Testing
@testable import Replay
import TraceFormat

/// The full invariant check catches a machine page mapped twice and a swap slot used twice
/// (one bit per number, SeenBits).
@Suite("Invariant check: machine pages and swap slots are claimed once")
struct InvariantCheckTests {
    @Test("SeenBits: each number once, across word boundaries; out of range refused")
    func bits() {
        var b = SeenBits(130)
        for i in [0, 63, 64, 127, 128, 129] {
            let first = b.claim(i)
            #expect(first, "\(i)")
        }
        for i in [0, 63, 64, 127, 128, 129] {
            let again = b.claim(i)
            #expect(!again, "\(i) twice")
        }
        let fresh = [b.claim(1), b.claim(65)]
        #expect(fresh == [true, true])
        let outside = [b.claim(130), b.claim(-1), b.claim(1 << 40)]
        #expect(outside == [false, false, false])
        var none = SeenBits(0)
        let empty = none.claim(0)
        #expect(!empty)
    }

    static func engine() throws -> ReplayEngine {
        let header = TraceHeader(
            pageSize: 4096, vms: [VMDecl(id: 0, name: "a", pages: 64)], capture: CaptureFacts(source: "test"))
        let policy = Policy()
        let e = try ReplayEngine(
            host: try HostConfig.resolve(header: header, policy: policy, spec: HostSpec(), startsOff: []),
            policy: policy)
        for p in UInt32(0)..<3 { try e.apply(rec(1_000, 0, .write, p)) }
        try e.checkInvariants()
        return e
    }

    @Test("Two pages on one machine page are caught")
    func mpnTwice() throws {
        let e = try Self.engine()
        let vm = e.vms[0]
        #expect(PageState.of(vm.entry[0]) == .privateMPN && PageState.of(vm.entry[1]) == .privateMPN)
        vm.entry[1] = vm.entry[0]
        #expect {
            try e.checkInvariants()
        } throws: { error in
            "\(error)".contains("is mapped twice or was never handed out")
        }
    }
}
