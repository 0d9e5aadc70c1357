import Foundation

/// One batch of records and where the reader stood after it; nil records at the end.
public struct Batch {
    public var records: [TraceRecord]?
    public var position: ReadPosition
}

/// Reads on a thread of its own, up to `depth` batches ahead; the reader is touched by that
/// thread only. An error is handed over in its place in the sequence, after every batch
/// before it.
public final class ReadAhead: @unchecked Sendable {
    private let worker = WorkerThread()
    private var cond: NSCondition { worker.cond }
    @exclusivity(unchecked) private var ready: [Result<Batch, TraceError>] = []
    @exclusivity(unchecked) private var spares: [[TraceRecord]] = []
    private var stopped: Bool { worker.stopped }
    private let depth: Int

    public init(_ reader: any TraceReader, depth: Int) {
        self.depth = depth
        let box = UncheckedBox(reader)
        worker.start { self.produce(box.value) }
    }

    private func produce(_ reader: any TraceReader) {
        while true {
            cond.lock()
            while ready.count >= depth && !stopped { cond.wait() }
            if stopped { cond.unlock(); return }
            var batch = spares.popLast() ?? []
            cond.unlock()
            let item: Result<Batch, TraceError>
            do {
                let more = try reader.next(into: &batch)
                item = .success(Batch(records: more ? batch : nil, position: ReadPosition(reader)))
            } catch {
                item = .failure(error)
            }
            cond.lock()
            ready.append(item)
            cond.broadcast()
            cond.unlock()
            switch item {
            case .success(let b) where b.records != nil: continue
            default: return
            }
        }
    }

    /// The next batch (nil records at the end), or the reading error in its place.
    public func next() throws(TraceError) -> Batch {
        cond.lock()
        while ready.isEmpty { cond.wait() }
        let item = ready.removeFirst()
        cond.broadcast()
        cond.unlock()
        return try item.get()
    }

    /// Hands a consumed batch's storage back for reuse.
    public func recycle(_ batch: [TraceRecord]) {
        cond.lock()
        spares.append(batch)
        cond.unlock()
    }

    /// Stops the thread and waits for it, so the reader is the caller's again (once; later
    /// calls return at once).
    public func stop() { worker.stop() }
}

/// A thread of its own for an object that hands work to or from it through a queue kept under
/// `cond` (ReadAhead, FrameCompressor): `stop` sets `stopped` under the lock, wakes the thread
/// and waits until its body has returned (once; later calls return at once). The body must
/// return once it sees `stopped`.
final class WorkerThread: @unchecked Sendable {
    let cond = NSCondition()
    @exclusivity(unchecked) private(set) var stopped = false
    private let done = DispatchSemaphore(value: 0)

    /// Runs `body` on a new thread with a 1 MiB stack.
    func start(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        let thread = Thread {
            defer { done.signal() }
            body()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    func stop() {
        cond.lock()
        guard !stopped else { cond.unlock(); return }
        stopped = true
        cond.broadcast()
        cond.unlock()
        done.wait()
    }
}

/// Carries a non-Sendable value to the one thread that will use it.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
