import Foundation
import Synchronization

/// One audit chain of one metadata database.
public struct ChainKey: Hashable, Sendable {
    /// The metadata database's client (its identity).
    public let database: ObjectIdentifier
    /// The org whose chain it is; nil: the platform's.
    public let org: UUID?

    public init(database: ObjectIdentifier, org: UUID?) {
        self.database = database
        self.org = org
    }
}

/// Chaining rounds, one at a time a chain: a change that has committed takes the next round of its chain, and a
/// round covers every change that took it before the round began. The first change to come runs the round (on its
/// own connection); changes that come while it runs wait, and the first of them runs one round for all of them
/// after it. So concurrent changes to one chain share one chaining transaction rather than each run their own and
/// queue for the chain's lock in turn: the same records chained, in the same order, in fewer transactions.
public final class ChainingRounds: Sendable {
    /// The rounds of every metadata database's chains in this process.
    public static let metadata = ChainingRounds()

    private enum Turn {
        /// Run the round, for these too.
        case lead([CheckedContinuation<Turn, Never>])
        /// A round that began after this change came has ended.
        case covered
    }

    /// For each chain with a round running, the changes waiting for the next.
    private let waiting = Mutex<[ChainKey: [CheckedContinuation<Turn, Never>]]>([:])

    public init() {}

    /// How many changes wait for the next round of `key`; nil when no round of it runs.
    public func waiting(for key: ChainKey) -> Int? {
        waiting.withLock { $0[key]?.count }
    }

    /// Returns once a round of `key` that began after this call has ended: `round` itself, when this caller is
    /// the one to run it, or a round another caller ran. `round` must not throw: a round ends for everyone it
    /// covers however it went.
    public func take(_ key: ChainKey, round: () async -> Void) async {
        let turn = await withCheckedContinuation { (turn: CheckedContinuation<Turn, Never>) in
            let leads = waiting.withLock { waiting in
                guard waiting[key] != nil else {
                    waiting[key] = []
                    return true
                }
                waiting[key]!.append(turn)
                return false
            }
            if leads { turn.resume(returning: .lead([])) }
        }
        guard case .lead(let followers) = turn else { return }
        await round()
        for follower in followers { follower.resume(returning: .covered) }
        let next = waiting.withLock { waiting in
            let next = waiting[key] ?? []
            waiting[key] = next.isEmpty ? nil : []
            return next
        }
        if let leader = next.first { leader.resume(returning: .lead(Array(next.dropFirst()))) }
    }
}
