import Foundation

/// The bookkeeping of connections to org databases, with no I/O: one budget shared by every org, each org
/// growing up to its own cap while others are idle, waiting requests served in order within an org and the
/// neediest org first across orgs, failed orgs backing off. Every operation is synchronous and returns the
/// I/O to do (connections to open or close, waiters to wake); the caller does it outside its lock. A connection
/// it asks to close counts against the budget until the caller says it has closed (`closed`): until then its
/// server still holds it, and a connection opened in its place would take the server past the budget.
public struct ConnectionBudget<Connection: AnyObject> {
    public struct Limits: Sendable {
        /// Connections to org databases, all orgs together.
        public var maxConnections: Int
        /// Connections one org may hold.
        public var maxPerOrg: Int
        /// An idle connection is closed after this.
        public var idleTimeout: Duration
        /// After a failed connect the org's new connections wait 1×, 2×, 4× … this, at most `maxBackoff`.
        public var backoff: Duration
        public var maxBackoff: Duration

        public init(
            maxConnections: Int, maxPerOrg: Int, idleTimeout: Duration, backoff: Duration = .milliseconds(250),
            maxBackoff: Duration = .seconds(2)
        ) {
            self.maxConnections = max(1, maxConnections)
            self.maxPerOrg = max(1, min(maxPerOrg, maxConnections))
            self.idleTimeout = idleTimeout
            self.backoff = backoff
            self.maxBackoff = maxBackoff
        }
    }

    /// Why a waiter was woken without a connection.
    public enum Failure: Error, Equatable, Sendable {
        /// The org's database refused or did not answer a new connection.
        case unreachable
        /// The org's connections were closed (its database is being suspended or dropped).
        case closed
        case shuttingDown
    }

    /// What `acquire` found.
    public enum Acquired {
        case connection(Connection)
        /// Queued: the waiter is woken by a later `Actions.wake`.
        case queued
        case failed(Failure, retryAfter: Duration?)
    }

    /// I/O for the caller: open a connection for each org in `connect` (then call `connected` or
    /// `connectFailed`), close `close` (then call `closed` for each), and wake each waiter with its result.
    public struct Actions {
        public var connect: [UUID] = []
        public var close: [Connection] = []
        public var wake: [(waiter: Int, result: Result<Connection, Failure>)] = []

        public var isEmpty: Bool { connect.isEmpty && close.isEmpty && wake.isEmpty }

        public init() {}
    }

    struct Idle {
        let connection: Connection
        let since: ContinuousClock.Instant
    }

    struct Org {
        var idle: [Idle] = []  // most recently used last
        var leased: [ObjectIdentifier: Connection] = [:]
        var connecting = 0
        var waiters: [Int] = []  // oldest first
        var failures = 0
        var retryAt: ContinuousClock.Instant?

        var count: Int { idle.count + leased.count + connecting }
        /// Holds nothing worth remembering (no connection, no waiter, no back-off).
        var isEmpty: Bool { count == 0 && waiters.isEmpty && retryAt == nil }
        /// Wants another connection: more waiters than connections on their way.
        var wantsMore: Bool { waiters.count > connecting }
    }

    public let limits: Limits
    let isOpen: @Sendable (Connection) -> Bool
    var orgs: [UUID: Org] = [:]
    /// Orgs with at least one waiter.
    var waiting: Set<UUID> = []
    /// Leased connections of orgs closed meanwhile: closed when they come back.
    var retiring: Set<ObjectIdentifier> = []
    /// Connections asked to close that have not closed yet.
    public private(set) var closing = 0
    /// Orgs each given the slot of a connection still closing (counted in their `connecting`, not yet in `total`),
    /// in the order they were given one: each connects as a close completes.
    var deferred: [UUID] = []
    /// Idle, leased, connecting, retiring and closing connections over all orgs: what the servers hold or are
    /// about to.
    public private(set) var total = 0
    public private(set) var shuttingDown = false

    /// `isOpen` tells whether a connection still works (an idle one whose server went away is dropped).
    public init(limits: Limits, isOpen: @escaping @Sendable (Connection) -> Bool) {
        self.limits = limits
        self.isOpen = isOpen
    }

    /// Orgs holding or waiting for connections now.
    public var orgIDs: [UUID] { Array(orgs.keys) }

    /// Connections the org holds (idle, leased, connecting).
    public func count(of org: UUID) -> Int { orgs[org]?.count ?? 0 }

    /// Each org's usage (orgs holding or waiting for connections).
    public var usage: [UUID: ConnectionUsage] {
        orgs.mapValues { org in
            var usage = ConnectionUsage()
            usage.idle = org.idle.count
            usage.inUse = org.leased.count
            usage.opening = org.connecting
            usage.waiting = org.waiters.count
            return usage
        }
    }

    /// Every leased connection (to close at the end of a shutdown that waited long enough).
    public var leasedConnections: [Connection] { orgs.values.flatMap { $0.leased.values } }

    /// A connection of the org's, or `queued` with `waiter` in its line, or a failure at once (shutting
    /// down, or the org's database failed lately and nothing of it is open). With no waiter, `queued`
    /// only says that the caller would have to wait (nothing is queued).
    public mutating func acquire(_ org: UUID, waiter: Int?, now: ContinuousClock.Instant, actions: inout Actions)
        -> Acquired
    {
        if shuttingDown { return .failed(.shuttingDown, retryAfter: nil) }
        var entry = take(org)
        if let connection = popIdle(&entry, actions: &actions) {
            entry.leased[ObjectIdentifier(connection)] = connection
            orgs[org] = entry
            return .connection(connection)
        }
        if let retryAt = entry.retryAt, retryAt > now, entry.leased.isEmpty, entry.connecting == 0 {
            orgs[org] = entry.isEmpty ? nil : entry
            return .failed(.unreachable, retryAfter: retryAt - now)
        }
        guard let waiter else {
            orgs[org] = entry.isEmpty ? nil : entry
            return .queued
        }
        entry.waiters.append(waiter)
        orgs[org] = entry
        waiting.insert(org)
        rebalance(now: now, actions: &actions)
        return .queued
    }

    /// Takes a waiter out of its line (its deadline passed or its task was cancelled); false when it was
    /// no longer waiting (it was woken meanwhile).
    public mutating func cancel(_ org: UUID, waiter: Int) -> Bool {
        guard let index = orgs[org]?.waiters.firstIndex(of: waiter) else { return false }
        var entry = take(org)
        entry.waiters.remove(at: index)
        if entry.waiters.isEmpty { waiting.remove(org) }
        orgs[org] = entry.isEmpty ? nil : entry
        return true
    }

    /// A leased connection comes back; `reusable` is false when the work on it failed in a way that may
    /// have left it in an unknown state.
    public mutating func release(
        _ org: UUID, _ connection: Connection, reusable: Bool, now: ContinuousClock.Instant, actions: inout Actions
    ) {
        let id = ObjectIdentifier(connection)
        if retiring.remove(id) != nil {
            retire(connection, actions: &actions)
            rebalance(now: now, actions: &actions)
            return
        }
        guard orgs[org]?.leased[id] != nil else { return }
        var entry = take(org)
        entry.leased[id] = nil
        if shuttingDown || !reusable || !isOpen(connection) || shouldYield(entry, from: org, now: now) {
            retire(connection, actions: &actions)
        } else if let waiter = entry.waiters.first {
            entry.waiters.removeFirst()
            if entry.waiters.isEmpty { waiting.remove(org) }
            entry.leased[id] = connection
            actions.wake.append((waiter, .success(connection)))
        } else {
            entry.idle.append(Idle(connection: connection, since: now))
        }
        orgs[org] = entry.isEmpty ? nil : entry
        rebalance(now: now, actions: &actions)
    }

    /// A connection the org asked for is open.
    public mutating func connected(
        _ org: UUID, _ connection: Connection, now: ContinuousClock.Instant, actions: inout Actions
    ) {
        var entry = take(org)
        entry.connecting -= 1
        entry.failures = 0
        entry.retryAt = nil
        if shuttingDown {
            retire(connection, actions: &actions)
        } else if let waiter = entry.waiters.first {
            entry.waiters.removeFirst()
            if entry.waiters.isEmpty { waiting.remove(org) }
            entry.leased[ObjectIdentifier(connection)] = connection
            actions.wake.append((waiter, .success(connection)))
        } else {
            entry.idle.append(Idle(connection: connection, since: now))
        }
        orgs[org] = entry.isEmpty ? nil : entry
        rebalance(now: now, actions: &actions)
    }

    /// A connection the org asked for could not be opened: its waiters fail now, and its next connect
    /// waits out a back-off.
    public mutating func connectFailed(_ org: UUID, now: ContinuousClock.Instant, actions: inout Actions) {
        guard orgs[org] != nil else { return }
        var entry = take(org)
        entry.connecting -= 1
        total -= 1
        entry.failures += 1
        let factor = 1 << min(entry.failures - 1, 16)
        entry.retryAt = now + min(limits.backoff * factor, limits.maxBackoff)
        for waiter in entry.waiters { actions.wake.append((waiter, .failure(.unreachable))) }
        entry.waiters.removeAll()
        waiting.remove(org)
        orgs[org] = entry
        rebalance(now: now, actions: &actions)
    }

    /// A connection the budget asked to close has closed: its slot goes to the first org given it (see `deferred`),
    /// else to whoever needs one now.
    public mutating func closed(now: ContinuousClock.Instant, actions: inout Actions) {
        guard closing > 0 else { return }
        closing -= 1
        if deferred.isEmpty {
            total -= 1
            rebalance(now: now, actions: &actions)
        } else {
            actions.connect.append(deferred.removeFirst())  // the slot passes on: `total` is unchanged
        }
    }

    /// Closes connections idle longer than the idle timeout, and forgets orgs that hold nothing.
    public mutating func expireIdle(now: ContinuousClock.Instant, actions: inout Actions) {
        for (org, var entry) in orgs {
            let before = entry.idle.count
            entry.idle.removeAll { idle in
                guard now - idle.since >= limits.idleTimeout || !isOpen(idle.connection) else { return false }
                actions.close.append(idle.connection)
                return true
            }
            closing += before - entry.idle.count
            if let retryAt = entry.retryAt, retryAt <= now, entry.count == 0 { entry.retryAt = nil }
            orgs[org] = entry.isEmpty ? nil : entry
        }
    }

    /// Closes the org's connections: idle ones now, leased ones when they come back; its waiters fail.
    public mutating func close(_ org: UUID, now: ContinuousClock.Instant, actions: inout Actions) {
        guard let entry = orgs.removeValue(forKey: org) else { return }
        waiting.remove(org)
        for idle in entry.idle { retire(idle.connection, actions: &actions) }
        for id in entry.leased.keys { retiring.insert(id) }
        for waiter in entry.waiters { actions.wake.append((waiter, .failure(.closed))) }
        // Slots it was promised go to others (their closes still count until done); a connect on its way lands in
        // a fresh entry and is closed at its idle timeout.
        let promised = deferred.count { $0 == org }
        deferred.removeAll { $0 == org }
        if entry.connecting > promised { orgs[org] = Org(connecting: entry.connecting - promised) }
        rebalance(now: now, actions: &actions)
    }

    /// Stops handing out connections: waiters fail, idle connections close, leased ones close when they
    /// come back.
    public mutating func shutdown(actions: inout Actions) {
        shuttingDown = true
        for (org, var entry) in orgs {
            for waiter in entry.waiters { actions.wake.append((waiter, .failure(.shuttingDown))) }
            entry.waiters.removeAll()
            for idle in entry.idle { retire(idle.connection, actions: &actions) }
            entry.idle.removeAll()
            let promised = deferred.count { $0 == org }
            entry.connecting -= promised
            orgs[org] = entry
        }
        deferred.removeAll()
        waiting.removeAll()
    }

    // MARK: - Private

    /// The org's entry taken out of `orgs` (a fresh one when it has none), to be changed and put back: changed
    /// in place, its arrays and dictionary are not copied (a copy read out of `orgs` shares their storage, and
    /// its first change copied them whole — on every acquire and release).
    private mutating func take(_ org: UUID) -> Org {
        orgs.removeValue(forKey: org) ?? Org()
    }

    /// Pops the most recently used idle connection that still works; dead ones are dropped.
    private mutating func popIdle(_ entry: inout Org, actions: inout Actions) -> Connection? {
        while let idle = entry.idle.popLast() {
            if isOpen(idle.connection) { return idle.connection }
            retire(idle.connection, actions: &actions)
        }
        return nil
    }

    /// Asks for the connection to be closed; it counts against the budget until `closed`.
    private mutating func retire(_ connection: Connection, actions: inout Actions) {
        closing += 1
        actions.close.append(connection)
    }

    /// With the budget spent, a connection coming back to `org` goes to another waiting org instead when that
    /// org holds fewer than `org` would keep: each waiting org converges on an equal share.
    private func shouldYield(_ entry: Org, from org: UUID, now: ContinuousClock.Instant) -> Bool {
        guard total >= limits.maxConnections, !waiting.isEmpty else { return false }
        return waiting.contains { other in
            guard other != org, let candidate = orgs[other], canGrow(candidate, now: now) else { return false }
            return entry.count > candidate.count
        }
    }

    private func canGrow(_ entry: Org, now: ContinuousClock.Instant) -> Bool {
        entry.wantsMore && entry.count < limits.maxPerOrg && (entry.retryAt.map { $0 <= now } ?? true)
    }

    /// Serves waiting orgs: idle connections of their own first, then new connections for the org holding
    /// the fewest (oldest waiter first among equals). With the budget spent, the org is given the slot of a
    /// connection already closing that no other org was given, or else of the least recently used idle connection
    /// of another org, closed for it; it connects when that close completes.
    private mutating func rebalance(now: ContinuousClock.Instant, actions: inout Actions) {
        guard !waiting.isEmpty, !shuttingDown else { return }
        for org in waiting {
            guard orgs[org]?.idle.isEmpty == false else { continue }
            var entry = take(org)
            while !entry.waiters.isEmpty, let connection = popIdle(&entry, actions: &actions) {
                let waiter = entry.waiters.removeFirst()
                entry.leased[ObjectIdentifier(connection)] = connection
                actions.wake.append((waiter, .success(connection)))
            }
            if entry.waiters.isEmpty { waiting.remove(org) }
            orgs[org] = entry
        }
        while true {
            var needy: (org: UUID, count: Int, oldest: Int)?
            for org in waiting {
                guard let entry = orgs[org], canGrow(entry, now: now) else { continue }
                if let best = needy, (best.count, best.oldest) <= (entry.count, entry.waiters[0]) { continue }
                needy = (org, entry.count, entry.waiters[0])
            }
            guard let org = needy?.org else { return }
            if total < limits.maxConnections {
                orgs[org]!.connecting += 1
                total += 1
                actions.connect.append(org)
                continue
            }
            if closing <= deferred.count {  // every close on its way is promised: make one
                guard let victim = leastRecentlyUsedIdle(except: org) else { return }
                var owner = take(victim)
                let idle = owner.idle.removeFirst()
                orgs[victim] = owner.isEmpty ? nil : owner
                retire(idle.connection, actions: &actions)
            }
            orgs[org]!.connecting += 1
            deferred.append(org)
        }
    }

    /// One pass over the orgs, nothing copied (a filtered copy of `orgs` was made on every eviction).
    private func leastRecentlyUsedIdle(except org: UUID) -> UUID? {
        var oldest: (org: UUID, since: ContinuousClock.Instant)?
        for (candidate, entry) in orgs where candidate != org {
            guard let since = entry.idle.first?.since, oldest.map({ since < $0.since }) ?? true else { continue }
            oldest = (candidate, since)
        }
        return oldest?.org
    }
}

extension ConnectionBudget: Sendable where Connection: Sendable {}
extension ConnectionBudget.Actions: Sendable where Connection: Sendable {}
extension ConnectionBudget.Acquired: Sendable where Connection: Sendable {}
extension ConnectionBudget.Idle: Sendable where Connection: Sendable {}
extension ConnectionBudget.Org: Sendable where Connection: Sendable {}

/// What a connection budget holds for one org now: connections idle, in use and being opened, and requests waiting.
public struct ConnectionUsage: Sendable, Equatable {
    public var idle = 0
    public var inUse = 0
    public var opening = 0
    public var waiting = 0

    public init() {}
}
