import Foundation
import Testing
@testable import Replay
import TraceFormat

/// The full invariant check catches a pmap that disagrees with the counts that hold the
/// machine pages (they are counted, not numbered: docs/MODEL.md "pmap"), stray bits in a page
/// word, and a shared page whose frame word names no shared frame.
@Suite("Invariant check: the pmap against the counts, word by word")
struct InvariantCheckTests {
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

    static func fails(_ e: ReplayEngine, _ message: String) -> Bool {
        do {
            try e.checkInvariants()
            return false
        } catch {
            return "\(error)".contains(message)
        }
    }

    @Test("A private page that no count holds is caught")
    func uncounted() throws {
        let e = try Self.engine()
        let vm = e.vms[0]
        #expect(vm.privatePages == 3 && e.memory.inUse == 3)
        vm.entry[3] = PageState.privateEntry
        #expect(Self.fails(e, "page counts drifted: private 4/3"))
    }

    @Test("Stray bits in a page word's entry half are caught; its flags half is left alone")
    func strayBits() throws {
        let e = try Self.engine()
        let vm = e.vms[0]
        let flags = vm.flags[0]
        vm.word[0] |= 1 << 20
        #expect(vm.flags[0] == flags)
        #expect(Self.fails(e, "PPN 0 is private with payload 16"))
    }

    @Test("A shared page whose frame word names no shared frame is caught")
    func badFrame() throws {
        let e = try Self.engine()
        let vm = e.vms[0]
        vm.setShared(1, FrameIndex(7))
        vm.privatePages -= 1
        vm.sharedPages += 1
        e.memory.release()  // the counts agree; only the frame is wrong
        #expect(Self.fails(e, "PPN 1 maps frame 7, which is not a shared frame"))
    }

    @Test("Entry and flag halves of a word are written independently")
    func halves() {
        let config = VMConfig(
            id: 0, name: "a", maxPages: 4, minPages: 0, shares: 1, overheadPages: 0, balloon: false, startsOff: false)
        let vm = VMState(config: config, index: 0, policy: Policy())
        vm.flags[2] = PageFlag.known | 5 << PageFlag.stampShift
        vm.entry[2] = PageState.balloonedFreedEntry
        #expect(vm.flags[2] == PageFlag.known | 5 << PageFlag.stampShift)
        #expect(PageState.of(vm.entry[2]) == .ballooned && vm.entry[2] == PageState.balloonedFreedEntry)
        vm.flags[2] = 0
        #expect(vm.entry[2] == PageState.balloonedFreedEntry && vm.word[2] == PageState.balloonedFreedEntry)
        vm.entry[2] = 0
        #expect(vm.word[2] == 0)
    }
}
