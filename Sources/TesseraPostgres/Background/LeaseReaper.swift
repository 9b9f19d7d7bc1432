import Foundation
import Logging
import ServiceLifecycle
import TesseraCore

/// Returns expired work-item leases to the queue on an interval, in every org whose database this gateway
/// has a pool open to (the orgs with work here lately); a claim also reaps its own run first, so an org
/// whose pool was closed loses nothing, its counters just wait for the next claim.
public struct LeaseReaper: Service {
    let tenants: TenantDatabases
    let interval: Duration
    let logger: Logger

    public init(tenants: TenantDatabases, interval: Duration, logger: Logger) {
        self.tenants = tenants
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await everyInterval(interval) { await sweep() }
    }

    /// One pass over the open orgs; returns how many leases went back.
    @discardableResult
    public func sweep() async -> Int {
        var total = 0
        for org in tenants.openOrgs {
            do {
                let reaped = try await PredictionRepository(org: org, databases: tenants, logger: logger)
                    .reapExpiredLeases(by: AuditActor(kind: .system, display: "lease reaper"))
                if reaped > 0 {
                    logger.info(
                        "expired leases returned to the queue", metadata: ["org": "\(org)", "items": "\(reaped)"])
                }
                total += reaped
            } catch {
                logger.warning(
                    "lease reaper could not sweep an org",
                    metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
            }
        }
        return total
    }
}
