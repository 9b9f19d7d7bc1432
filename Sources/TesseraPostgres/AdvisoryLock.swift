import Foundation

/// Every PostgreSQL advisory lock Tessera takes, named in one place. Global locks are single `bigint` keys;
/// per-org locks use the two-key form `(class, object)`, which PostgreSQL keeps apart from single keys.
public enum AdvisoryLock {
    /// `tessera migrate` on one database: concurrent migrators wait for each other.
    public static let migrations: Int64 = 0x7465_7373_6572_6101  // "tessera" + 1
    /// Bootstrapping the platform admin key: one bootstrap at a time.
    public static let platformAdminBootstrap: Int64 = 0x7465_7373_6572_6102
    /// Provisioning or purging one org (a single key: the org id's first 8 bytes), one process at a time.
    public static func provisioning(_ org: UUID) -> Int64 {
        let u = org.uuid
        return [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7].reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    }

    /// Class of the lock purging an org's audit chain (object: `hashtext` of the org id).
    public static let auditRetention: Int32 = 7301
    /// Class of the lock one org's audit relay holds, across processes (object: `relayObject`).
    public static let auditRelay: Int32 = 7302
    /// Class of the lock one round of task service health checks holds (object 0).
    public static let taskHealthRound: Int32 = 7303

    /// Class of the lock, in an org's own database, that a change counted against a quota holds while it
    /// counts and writes (object: the `Quota`'s index), so two at once cannot both pass the limit.
    public static let orgQuota: Int32 = 7304

    /// Class of the lock, in the metadata database, that registering an org's task service holds while it counts
    /// the org's services against `work.max_services_per_org` (object: `relayObject` of the org).
    public static let taskServices: Int32 = 7305

    /// Class of the lock, in an org's own database, that storing an evaluation set holds for its pair of annotation
    /// sets (object: `hashtext` of the two ids), so two requests for one pair store one set.
    public static let evaluationSetPair: Int32 = 7306

    /// Class of the lock, in an org's own database, on one ontology snapshot (object: `hashtext` of its id): storing
    /// an annotation or prediction set of it holds it shared for the whole upload; deleting the snapshot tries it
    /// exclusively.
    public static let ontologyUse: Int32 = 7307

    /// Class of the lock, in an org's own database, on one pipeline (object: `hashtext` of its id): creating a job of
    /// one of its versions holds it shared while it checks the version and writes the job; deleting the pipeline
    /// holds it exclusively while it counts the pipeline's jobs and deletes it from the metadata database.
    public static let pipelineUse: Int32 = 7308

    /// Class of the lock, in an org's own database, on one blob of its artifact store (object: the SHA-256's first 4
    /// bytes): making an artifact of the blob and deleting the blob's last artifact hold it, so a blob is never
    /// removed while an artifact of it is being made.
    public static let artifactBlob: Int32 = 7309

    /// The lock, in an org's own database, of the job engine's round (object 0): one gateway at a time settles the
    /// org's jobs and hands out their executions, so the org's cap on running executions is never overshot.
    public static let engineRound: Int32 = 7310

    /// The relay lock's object for an org: the org id's first 4 bytes.
    public static func relayObject(_ org: UUID) -> Int32 {
        let u = org.uuid
        return Int32(bitPattern: UInt32(u.0) << 24 | UInt32(u.1) << 16 | UInt32(u.2) << 8 | UInt32(u.3))
    }
}
