import Foundation
import Testing

@testable import TesseraCore

/// The tenant connection budget's bookkeeping, driven by hand: no database, no clock but the one passed in.
@Suite struct ConnectionBudgetTests {
    final class Conn: @unchecked Sendable {
        var open = true
    }
    typealias Budget = ConnectionBudget<Conn>

    let a = UUID()
    let b = UUID()
    let c = UUID()
    let t0 = ContinuousClock.now

    func budget(max: Int, perOrg: Int, idle: Duration = .seconds(60)) -> Budget {
        Budget(limits: .init(maxConnections: max, maxPerOrg: perOrg, idleTimeout: idle), isOpen: { $0.open })
    }

    /// Queues a waiter and opens whatever connections the budget asks for; returns the waiters woken.
    func wait(_ budget: inout Budget, _ org: UUID, _ waiter: Int, at now: ContinuousClock.Instant? = nil) -> [(
        Int, Result<Conn, Budget.Failure>
    )] {
        var actions = Budget.Actions()
        guard case .queued = budget.acquire(org, waiter: waiter, now: now ?? t0, actions: &actions) else {
            Issue.record("expected to wait")
            return []
        }
        return settle(&budget, actions, at: now ?? t0)
    }

    /// Performs connects (all succeed) and closes (each told to the budget once done) until nothing is left to do;
    /// returns every wake.
    func settle(_ budget: inout Budget, _ first: Budget.Actions, at now: ContinuousClock.Instant) -> [(
        Int, Result<Conn, Budget.Failure>
    )] {
        var pending = [first]
        var woken: [(Int, Result<Conn, Budget.Failure>)] = []
        while let actions = pending.popLast() {
            woken += actions.wake.map { ($0.waiter, $0.result) }
            for closed in actions.close {
                closed.open = false
                var next = Budget.Actions()
                budget.closed(now: now, actions: &next)
                pending.append(next)
            }
            for org in actions.connect {
                var next = Budget.Actions()
                budget.connected(org, Conn(), now: now, actions: &next)
                pending.append(next)
            }
        }
        return woken
    }

    static func failure(_ result: Result<Conn, Budget.Failure>) -> Budget.Failure? {
        if case .failure(let failure) = result { return failure }
        return nil
    }

    @Test func anIdleConnectionIsTakenAtOnceAndComesBack() throws {
        var budget = budget(max: 4, perOrg: 2)
        let woken = wait(&budget, a, 1)
        #expect(woken.count == 1 && woken[0].0 == 1)
        let conn = try woken[0].1.get()
        var actions = Budget.Actions()
        budget.release(a, conn, reusable: true, now: t0, actions: &actions)
        #expect(actions.isEmpty)
        guard case .connection(let again) = budget.acquire(a, waiter: nil, now: t0, actions: &actions) else {
            Issue.record("the idle connection was not handed out")
            return
        }
        #expect(again === conn)
        #expect(budget.total == 1)
    }

    @Test func anOrgGrowsToItsCapAndNoFurther() {
        var budget = budget(max: 10, perOrg: 3)
        for waiter in 1...5 { _ = wait(&budget, a, waiter) }
        #expect(budget.count(of: a) == 3)
        #expect(budget.total == 3)
    }

    @Test func theTotalNeverPassesTheBudgetAndAWaitingOrgIsNotStarved() throws {
        var budget = budget(max: 4, perOrg: 4)
        var held: [Conn] = []
        for waiter in 1...4 { held += try wait(&budget, a, waiter).map { try $0.1.get() } }
        #expect(budget.total == 4 && held.count == 4)
        // Org b waits with the budget spent; org a keeps asking too.
        #expect(wait(&budget, b, 10).isEmpty)
        #expect(wait(&budget, a, 5).isEmpty)
        // The next connection a gives back goes to b, whose share is smaller.
        var actions = Budget.Actions()
        budget.release(a, held.removeLast(), reusable: true, now: t0, actions: &actions)
        #expect(actions.close.count == 1 && actions.connect.isEmpty)  // b's connect waits for the close
        let woken = settle(&budget, actions, at: t0)
        #expect(woken.map(\.0) == [10])
        #expect(budget.total == 4 && budget.count(of: a) == 3 && budget.count(of: b) == 1)
    }

    @Test func waitingOrgsConvergeOnEqualShares() throws {
        var budget = budget(max: 4, perOrg: 4)
        var heldA: [Conn] = []
        for waiter in 1...4 { heldA += try wait(&budget, a, waiter).map { try $0.1.get() } }
        var next = 100
        for _ in 0..<4 {
            next += 1
            _ = wait(&budget, b, next)
            _ = wait(&budget, a, next + 1000)
        }
        // a gives back one at a time; each goes where the share is smaller.
        var heldB: [Conn] = []
        for _ in 0..<4 {
            var actions = Budget.Actions()
            budget.release(a, heldA.removeFirst(), reusable: true, now: t0, actions: &actions)
            for (waiter, result) in settle(&budget, actions, at: t0) {
                if waiter > 1000 { heldA.append(try result.get()) } else { heldB.append(try result.get()) }
            }
        }
        #expect(budget.count(of: a) == 2 && budget.count(of: b) == 2)
        #expect(budget.total == 4)
    }

    /// Orgs a and b each open a connection and give it back, a's at t0 and b's a second later: the budget spent on
    /// two idle connections.
    func twoIdle(_ budget: inout Budget) throws -> (first: Conn, second: Conn) {
        let first = try #require(wait(&budget, a, 1, at: t0).first).1.get()
        let second = try #require(wait(&budget, b, 2, at: t0).first).1.get()
        var actions = Budget.Actions()
        budget.release(a, first, reusable: true, now: t0, actions: &actions)
        budget.release(b, second, reusable: true, now: t0 + .seconds(1), actions: &actions)
        return (first, second)
    }

    @Test func theLeastRecentlyUsedIdleConnectionMakesRoomForAnotherOrg() throws {
        var budget = budget(max: 2, perOrg: 2)
        let (first, second) = try twoIdle(&budget)
        let woken = wait(&budget, c, 3, at: t0 + .seconds(2))
        #expect(woken.count == 1)
        #expect(!first.open && second.open)  // a's, used longest ago, was closed
        #expect(budget.count(of: a) == 0 && budget.count(of: b) == 1 && budget.count(of: c) == 1)
    }

    /// Among many orgs' idle connections, each eviction takes the one given back longest ago, whatever order the
    /// orgs were given back in.
    @Test func evictionsGoInTheOrderConnectionsWereLastUsed() throws {
        let orgs = (0..<6).map { _ in UUID() }
        var budget = budget(max: orgs.count, perOrg: 1)
        var held: [UUID: Conn] = [:]
        for (index, org) in orgs.enumerated() {
            held[org] = try #require(wait(&budget, org, index, at: t0).first).1.get()
        }
        let lastUsed = [3, 0, 5, 1, 4, 2]  // seconds after t0 each org's connection came back
        var actions = Budget.Actions()
        for (org, second) in zip(orgs, lastUsed) {
            budget.release(org, held[org]!, reusable: true, now: t0 + .seconds(second), actions: &actions)
        }
        let newcomers = (0..<3).map { _ in UUID() }
        for (index, org) in newcomers.enumerated() {
            #expect(wait(&budget, org, 100 + index, at: t0 + .seconds(10)).count == 1)
        }
        let closed = orgs.filter { !held[$0]!.open }
        #expect(Set(closed) == [orgs[1], orgs[3], orgs[5]])  // given back at 0, 1 and 2 s
        #expect(budget.total == orgs.count)
    }

    /// A connection closed to make room counts until it has closed: the org it made room for connects then, and
    /// a second org asking meanwhile gets a close of its own, not the same one.
    @Test func aClosingConnectionCountsUntilItHasClosedAndItsSlotGoesToTheOrgItWasClosedFor() throws {
        var budget = budget(max: 2, perOrg: 1)
        let (first, second) = try twoIdle(&budget)
        let d = UUID()
        var asked = Budget.Actions()
        guard case .queued = budget.acquire(c, waiter: 3, now: t0 + .seconds(2), actions: &asked) else { return }
        #expect(asked.close.count == 1 && asked.close[0] === first && asked.connect.isEmpty)
        #expect(budget.total == 2 && budget.closing == 1)
        guard case .queued = budget.acquire(d, waiter: 4, now: t0 + .seconds(2), actions: &asked) else { return }
        #expect(asked.close.count == 2 && asked.close[1] === second && asked.connect.isEmpty)
        // A third newcomer finds nothing to close: it waits, and nothing more is asked.
        var none = Budget.Actions()
        guard case .queued = budget.acquire(UUID(), waiter: 5, now: t0 + .seconds(2), actions: &none) else { return }
        #expect(none.isEmpty && budget.total == 2)
        var done = Budget.Actions()
        budget.closed(now: t0 + .seconds(3), actions: &done)
        #expect(done.connect == [c] && budget.total == 2 && budget.closing == 1)
        budget.closed(now: t0 + .seconds(3), actions: &done)
        #expect(done.connect == [c, d] && budget.total == 2 && budget.closing == 0)
    }

    /// An org closed while a slot is closing for it gives the slot up: nothing connects for it afterwards.
    @Test func anOrgClosedWhileItsSlotIsClosingGivesItUp() throws {
        var budget = budget(max: 1, perOrg: 1)
        let held = try #require(wait(&budget, a, 1, at: t0).first).1.get()
        var actions = Budget.Actions()
        budget.release(a, held, reusable: true, now: t0, actions: &actions)
        guard case .queued = budget.acquire(b, waiter: 2, now: t0, actions: &actions) else { return }
        #expect(actions.close.count == 1 && actions.connect.isEmpty)
        var closing = Budget.Actions()
        budget.close(b, now: t0, actions: &closing)
        #expect(closing.wake.count == 1 && Self.failure(closing.wake[0].result) == .closed)
        var done = Budget.Actions()
        budget.closed(now: t0, actions: &done)
        #expect(done.isEmpty && budget.total == 0 && budget.count(of: b) == 0)
    }

    @Test func aFailedConnectFailsTheWaitersAndBacksOff() {
        var budget = budget(max: 4, perOrg: 2)
        var actions = Budget.Actions()
        guard case .queued = budget.acquire(a, waiter: 1, now: t0, actions: &actions) else { return }
        #expect(actions.connect == [a])
        var failed = Budget.Actions()
        budget.connectFailed(a, now: t0, actions: &failed)
        #expect(failed.wake.count == 1 && Self.failure(failed.wake[0].result) == .unreachable)
        #expect(budget.total == 0)
        // During the back-off a request fails at once instead of waiting.
        guard
            case .failed(.unreachable, let retry) = budget.acquire(
                a, waiter: 2, now: t0 + .milliseconds(100), actions: &actions)
        else {
            Issue.record("expected an immediate failure during the back-off")
            return
        }
        #expect(retry == .milliseconds(150))
        // After it, a connect is tried again; a second failure doubles the back-off.
        var later = Budget.Actions()
        guard case .queued = budget.acquire(a, waiter: 3, now: t0 + .milliseconds(300), actions: &later) else { return }
        #expect(later.connect == [a])
        budget.connectFailed(a, now: t0 + .milliseconds(300), actions: &later)
        guard case .failed(_, let second) = budget.acquire(a, waiter: 4, now: t0 + .milliseconds(300), actions: &later)
        else { return }
        #expect(second == .milliseconds(500))
        // Other orgs are not affected.
        #expect(wait(&budget, b, 5).count == 1)
    }

    @Test func deadIdleConnectionsAreDroppedAndIdleOnesExpire() throws {
        var budget = budget(max: 4, perOrg: 2, idle: .seconds(10))
        let conn = try #require(wait(&budget, a, 1).first).1.get()
        var actions = Budget.Actions()
        budget.release(a, conn, reusable: true, now: t0, actions: &actions)
        conn.open = false  // the server went away
        let woken = wait(&budget, a, 2)
        #expect(woken.count == 1)
        let fresh = try woken[0].1.get()
        #expect(fresh !== conn && budget.total == 1)
        budget.release(a, fresh, reusable: true, now: t0, actions: &actions)
        var expired = Budget.Actions()
        budget.expireIdle(now: t0 + .seconds(5), actions: &expired)
        #expect(expired.close.isEmpty)
        budget.expireIdle(now: t0 + .seconds(10), actions: &expired)
        #expect(expired.close.count == 1 && budget.total == 1 && budget.orgIDs.isEmpty)  // closing: still counted
        budget.closed(now: t0 + .seconds(10), actions: &expired)
        #expect(budget.total == 0 && budget.closing == 0)
    }

    @Test func aConnectionThatFailedUnderItsWorkIsNotReused() throws {
        var budget = budget(max: 4, perOrg: 2)
        let conn = try #require(wait(&budget, a, 1).first).1.get()
        var actions = Budget.Actions()
        budget.release(a, conn, reusable: false, now: t0, actions: &actions)
        #expect(actions.close.count == 1 && budget.total == 1)
        budget.closed(now: t0, actions: &actions)
        #expect(budget.total == 0)
    }

    @Test func closingAnOrgFailsItsWaitersAndRetiresItsConnectionsInUse() throws {
        var budget = budget(max: 4, perOrg: 1)
        let conn = try #require(wait(&budget, a, 1).first).1.get()
        #expect(wait(&budget, a, 2).isEmpty)  // at its cap: waits
        var actions = Budget.Actions()
        budget.close(a, now: t0, actions: &actions)
        #expect(actions.wake.count == 1 && Self.failure(actions.wake[0].result) == .closed)
        var back = Budget.Actions()
        budget.release(a, conn, reusable: true, now: t0, actions: &back)
        #expect(back.close.count == 1 && budget.total == 1)
        budget.closed(now: t0, actions: &back)
        #expect(budget.total == 0)
    }

    @Test func shutdownFailsWaitersClosesIdleAndRefusesNewRequests() throws {
        var budget = budget(max: 2, perOrg: 1)
        let held = try #require(wait(&budget, a, 1).first).1.get()
        let idle = try #require(wait(&budget, b, 2).first).1.get()
        var actions = Budget.Actions()
        budget.release(b, idle, reusable: true, now: t0, actions: &actions)
        #expect(wait(&budget, a, 3).isEmpty)
        var down = Budget.Actions()
        budget.shutdown(actions: &down)
        #expect(down.wake.map(\.waiter) == [3] && down.close.count == 1)
        #expect(budget.leasedConnections.count == 1)
        guard case .failed(.shuttingDown, _) = budget.acquire(c, waiter: 4, now: t0, actions: &actions) else {
            Issue.record("a request during shutdown must fail at once")
            return
        }
        var back = Budget.Actions()
        budget.release(a, held, reusable: true, now: t0, actions: &back)
        #expect(back.close.count == 1 && budget.total == 2 && budget.closing == 2)
        budget.closed(now: t0, actions: &back)
        budget.closed(now: t0, actions: &back)
        #expect(budget.total == 0 && back.connect.isEmpty)
    }

    @Test func aWaiterThatGivesUpLeavesTheLine() {
        var budget = budget(max: 1, perOrg: 1)
        _ = wait(&budget, a, 1)
        #expect(wait(&budget, a, 2).isEmpty)
        let first = budget.cancel(a, waiter: 2)
        let second = budget.cancel(a, waiter: 2)
        #expect(first && !second)
    }

    /// One hot org (32 requests always in flight) and 50 warm ones (one request each, asked again as soon as it is
    /// answered) on a budget of 64 connections, 16 per org, every piece of work taking as long as any other: the
    /// hot org alone grows to its cap; once the warm orgs come, each of them is served, none waits long, and the
    /// hot org keeps what they leave (64 − 50 = 14, or 15 while a warm org's connection is idle), never the budget
    /// past 64.
    @Test func oneHotOrgAndFiftyWarmOnesShareTheBudgetAndNoneStarves() throws {
        var budget = budget(max: 64, perOrg: 16)
        let hot = UUID()
        let warm = (0..<50).map { _ in UUID() }
        var held: [(org: UUID, conn: Conn)] = []  // oldest first: each step the oldest work ends
        var asked: [Int: (org: UUID, step: Int)] = [:]
        var waits: [UUID: [Int]] = [:]
        var nextWaiter = 0
        var step = 0
        var peak = 0

        func request(_ org: UUID, _ budget: inout Budget) throws {
            nextWaiter += 1
            var actions = Budget.Actions()
            switch budget.acquire(org, waiter: nextWaiter, now: t0, actions: &actions) {
            case .connection(let conn):
                held.append((org, conn))
                waits[org, default: []].append(0)
            case .queued:
                asked[nextWaiter] = (org, step)
            case .failed(let failure, _):
                Issue.record("a request failed: \(failure)")
            }
            try serve(settle(&budget, actions, at: t0))
        }
        func serve(_ woken: [(Int, Result<Conn, Budget.Failure>)]) throws {
            for (waiter, result) in woken {
                let request = asked.removeValue(forKey: waiter)
                let (org, since) = try #require(request)
                held.append((org, try result.get()))
                waits[org, default: []].append(step - since)
            }
        }
        func run(steps: Int, _ budget: inout Budget) throws {
            for _ in 0..<steps {
                step += 1
                let (org, conn) = held.removeFirst()
                var actions = Budget.Actions()
                budget.release(org, conn, reusable: true, now: t0, actions: &actions)
                try serve(settle(&budget, actions, at: t0))
                try request(org, &budget)  // every org asks again at once
                peak = max(peak, budget.total)
            }
        }

        for _ in 0..<32 { try request(hot, &budget) }
        try run(steps: 200, &budget)
        #expect(budget.count(of: hot) == 16 && budget.total == 16)  // alone: its cap, not one more

        for org in warm { try request(org, &budget) }
        try run(steps: 2_000, &budget)
        #expect(peak <= 64 && budget.total <= 64)
        for org in warm {
            let served = waits[org] ?? []
            #expect(served.count >= 20, "a warm org was served \(served.count) times")
            #expect((served.max() ?? .max) <= 64, "a warm org waited \(served.max() ?? -1) steps")
            #expect(budget.count(of: org) <= 1)
        }
        // What the warm orgs leave, give or take the one a warm org gave back this step (an idle connection of
        // theirs is closed to let the hot org grow while they wait for nothing).
        #expect((14...15).contains(budget.count(of: hot)))
    }
}
