import Foundation
import Synchronization
import TesseraCore
import Testing

@testable import TesseraGateway

/// Heavy operations are admitted a bounded number at a time, per org and in total, and a freed slot goes to the
/// next org in turn: an org flooding waits behind itself.
@Suite struct HeavyWorkTests {
    /// Jobs that start when admitted and end when the test says so.
    final class Jobs: Sendable {
        let started = Mutex<[String]>([])
        let ended = Mutex<Set<String>>([])

        func job(_ heavy: HeavyWork, _ org: UUID, _ name: String) async throws {
            try await heavy.run(org: org) { _ in
                started.withLock { $0.append(name) }
                while !ended.withLock({ $0.contains(name) }) { try await Task.sleep(for: .milliseconds(5)) }
            }
        }

        func end(_ name: String) { _ = ended.withLock { $0.insert(name) } }
        var order: [String] { started.withLock { $0 } }
    }

    /// What ran where, from the parts of a `concurrentPerform`.
    final class Parts: Sendable {
        let runs = Mutex<[(part: Int, thread: pthread_t)]>([])

        func ran(_ part: Int) {
            runs.withLock { $0.append((part, pthread_self())) }
        }

        var parts: [Int] { runs.withLock { $0.map(\.part).sorted() } }
        var threads: [pthread_t] { runs.withLock { $0.map(\.thread) } }
    }

    @Test func anOperationsPartsRunOnceEachOnWhicheverHeavyThreadsAreFree() async throws {
        for count in [0, 1, 3, 40] {
            let parts = Parts()
            HeavyWork.concurrentPerform(count) { part in
                Thread.sleep(forTimeInterval: 0.002)
                parts.ran(part)
            }
            // Each part once, every one ended before it returned.
            #expect(parts.parts == Array(0..<count), "\(count) parts")
        }
        // Every heavy-work thread busy: the caller does every part itself instead of waiting for one to be free.
        let (occupied, release) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let pool = ProcessInfo.processInfo.activeProcessorCount
        for _ in 0..<pool {
            HeavyWork.threads.submit { _ in
                occupied.signal()
                release.wait()
            }
        }
        for _ in 0..<pool { occupied.wait() }
        let parts = Parts()
        let caller = pthread_self()
        HeavyWork.concurrentPerform(5) { parts.ran($0) }
        for _ in 0..<pool { release.signal() }
        #expect(parts.parts == Array(0..<5))
        #expect(parts.threads.allSatisfy { pthread_equal($0, caller) != 0 })
    }

    @Test func slotsAreBoundedAndGoToOrgsInTurn() async throws {
        let heavy = HeavyWork(.init(total: 1, perOrg: 1, queuedPerOrg: 2, wait: .seconds(60)))
        let (a, b) = (UUID(), UUID())
        let jobs = Jobs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await jobs.job(heavy, a, "a1") }
            try await waitUntil(timeout: .seconds(5)) { jobs.order == ["a1"] }
            for (n, name) in ["a2", "a3"].enumerated() {
                group.addTask { try await jobs.job(heavy, a, name) }
                try await waitUntil(timeout: .seconds(5)) { heavy.waiting == n + 1 }
            }
            // A third of org A's waiting is refused at once.
            await #expect(throws: TesseraError.tooManyRequests(retryAfterSeconds: 1)) {
                try await jobs.job(heavy, a, "a4")
            }
            group.addTask { try await jobs.job(heavy, b, "b1") }
            try await waitUntil(timeout: .seconds(5)) { heavy.waiting == 3 }
            // Org B came last but is served next: A's queue waits behind A.
            for name in ["a1", "b1", "a2", "a3"] {
                jobs.end(name)
            }
            try await group.waitForAll()
        }
        #expect(jobs.order == ["a1", "b1", "a2", "a3"])
        #expect(heavy.peak == 1 && heavy.waiting == 0)
    }

    @Test func aPerOrgCapLeavesRoomForOthersAndAWaitEndsIn503() async throws {
        let heavy = HeavyWork(.init(total: 2, perOrg: 1, queuedPerOrg: 4, wait: .milliseconds(300)))
        let (a, b) = (UUID(), UUID())
        let jobs = Jobs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await jobs.job(heavy, a, "a1") }
            try await waitUntil(timeout: .seconds(5)) { jobs.order == ["a1"] }
            // Org A holds one slot of two: its second waits while org B takes the other at once.
            let clock = ContinuousClock()
            let waited = try await clock.measure {
                await #expect(throws: TesseraError.unavailable("the server is busy with heavy work; retry shortly")) {
                    try await jobs.job(heavy, a, "a2")
                }
            }
            #expect(waited >= .milliseconds(300))
            group.addTask { try await jobs.job(heavy, b, "b1") }
            try await waitUntil(timeout: .seconds(5)) { jobs.order == ["a1", "b1"] }
            jobs.end("a1")
            jobs.end("b1")
            try await group.waitForAll()
        }
        #expect(heavy.peak == 2 && heavy.waiting == 0)
    }
}
