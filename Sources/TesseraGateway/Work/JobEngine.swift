import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// A task definition as the engine calls it: its service config and interface_spec (JSON).
struct EngineDefinition: Sendable {
    let config: TaskServiceConfig
    let spec: Data

    init(config: TaskServiceConfig, spec: Data) {
        self.config = config
        self.spec = spec
    }

    /// A stored definition's (its config was checked when it was made; one older than that check that fails it
    /// runs with the defaults).
    init(_ record: TaskDefinitionRecord) {
        self.init(
            config: (try? TaskServiceConfig.parse(Data(record.serviceConfig.utf8)).get()) ?? TaskServiceConfig(),
            spec: Data(record.interfaceSpec.utf8))
    }

    /// The operation `id` names (or, when `id` is nil, the spec's only operation) with the parsed document its
    /// schemas' `$ref`s point into.
    func operation(_ id: String?) -> (TaskOperation, [String: Any])? {
        guard let document = (try? JSONSerialization.jsonObject(with: spec)) as? [String: Any] else { return nil }
        if let id { return TaskOperation.find(id, in: document).map { ($0, document) } }
        let ids = ((document["paths"] as? [String: Any]) ?? [:]).values.flatMap { item in
            ((item as? [String: Any]) ?? [:]).values.compactMap { ($0 as? [String: Any])?["operationId"] as? String }
        }
        guard ids.count == 1 else { return nil }
        return TaskOperation.find(ids[0], in: document).map { ($0, document) }
    }
}

/// What the engine reads from the metadata database, kept: published pipeline versions and task definitions
/// never change what the engine uses of them. Kept per org: an id read from an org's own database (which its role
/// can write) finds only what that org was allowed to see when it was first read.
final class EngineCatalog: Sendable {
    let metadata: PostgresClient
    struct Key: Hashable {
        let org: UUID
        let id: UUID
    }
    private let versions = Mutex<[Key: [ResolvedStep]]>([:])
    private let definitions = Mutex<[Key: EngineDefinition]>([:])
    static let bound = 10_000

    init(metadata: PostgresClient) {
        self.metadata = metadata
    }

    func definition(_ id: UUID, org: UUID) -> EngineDefinition? {
        definitions.withLock { $0[Key(org: org, id: id)] }
    }
    func steps(_ version: UUID, org: UUID) -> [ResolvedStep]? {
        versions.withLock { $0[Key(org: org, id: version)] }
    }

    /// The steps of `versions`, their definitions, and the org's healthy services of those definitions.
    func knowledge(org: UUID, versions wanted: [UUID], logger: Logger) async throws -> EngineKnowledge {
        try await metadata.withConnection { connection in
            var knowledge = EngineKnowledge()
            for version in wanted {
                if let steps = self.steps(version, org: org) {
                    knowledge.versions[version] = steps
                } else if let record = try await PipelineStore(org: org, logger: logger).version(
                    id: version, on: connection), record.publishedAt != nil
                {
                    knowledge.versions[version] = record.steps
                    self.versions.withLock {
                        if $0.count >= Self.bound { $0.removeAll() }
                        $0[Key(org: org, id: version)] = record.steps
                    }
                }
            }
            let used = Set(knowledge.versions.values.flatMap { $0.map(\.definitionID) })
            for id in used {
                if let known = self.definition(id, org: org) {
                    knowledge.configs[id] = known.config
                    continue
                }
                guard let record = try await TaskStore(org: org, logger: logger).get(id, on: connection) else {
                    continue
                }
                let definition = EngineDefinition(record)
                knowledge.configs[id] = definition.config
                self.definitions.withLock {
                    if $0.count >= Self.bound { $0.removeAll() }
                    $0[Key(org: org, id: id)] = definition
                }
            }
            for service in try await TaskStore(org: org, logger: logger).services(definition: nil, on: connection)
            where service.healthStatus == "healthy" && used.contains(service.taskDefinitionID) {
                knowledge.services[service.taskDefinitionID, default: []].append(
                    EngineService(id: service.id, url: service.serviceURL))
            }
            return knowledge
        }
    }

    /// The cancelled executions whose definition declares a cancel operation, with the definition and the URL
    /// of the service that was running them.
    func cancelTargets(org: UUID, _ cancels: [EngineCancel], logger: Logger) async throws -> [(
        EngineCancel, EngineDefinition, String
    )] {
        let wanted = cancels.filter { $0.definitionID != nil && $0.serviceID != nil }
        guard !wanted.isEmpty else { return [] }
        return try await metadata.withConnection { connection in
            let store = TaskStore(org: org, logger: logger)
            let urls = Dictionary(
                try await store.services(definition: nil, on: connection).map { ($0.id, $0.serviceURL) }
            ) { a, _ in a }
            var targets: [(EngineCancel, EngineDefinition, String)] = []
            for cancel in wanted {
                guard let definitionID = cancel.definitionID, let serviceID = cancel.serviceID,
                    let url = urls[serviceID]
                else { continue }
                var definition = self.definition(definitionID, org: org)
                if definition == nil, let record = try await store.get(definitionID, on: connection) {
                    definition = EngineDefinition(record)
                }
                if let definition, definition.config.cancelOperation != nil {
                    targets.append((cancel, definition, url))
                }
            }
            return targets
        }
    }
}

/// The base URL task services report to: `work.callback_base_url`, or when that is empty the address this gateway
/// listens on (loopback for a wildcard host), known once the server runs.
final class CallbackBase: Sendable {
    private let value: Mutex<String>
    private let configured: Bool

    init(_ setting: String) {
        let trimmed = setting.hasSuffix("/") ? String(setting.dropLast()) : setting
        value = Mutex(trimmed)
        configured = !trimmed.isEmpty
    }

    var url: String { value.withLock { $0 } }

    func serverRunning(_ channel: any Channel) {
        guard !configured, let address = channel.localAddress, let port = address.port else { return }
        let host: String
        switch address.ipAddress {
        case nil, "0.0.0.0", "::": host = "127.0.0.1"
        case let ip? where ip.contains(":"): host = "[\(ip)]"
        case let ip?: host = ip
        }
        value.withLock { $0 = "http://\(host):\(port)" }
    }
}

/// Wakes the engine for an org now (a job was created or cancelled, a call ended) rather than at its next round.
public final class EngineWaker: Sendable {
    private let woken = Mutex<Set<UUID>>([])

    public init() {}

    public func wake(_ org: UUID) { _ = woken.withLock { $0.insert(org) } }

    func take() -> Set<UUID> {
        woken.withLock { state in
            defer { state = [] }
            return state
        }
    }
    var isWoken: Bool { woken.withLock { !$0.isEmpty } }
}

/// Orgs whose round found nothing for the engine (only hand-moved jobs are active there): looked at again after
/// 2, 4, … up to 64 full rounds, at once when woken, so an org full of manual jobs costs no query a second.
final class EngineIdleOrgs: Sendable {
    private let state = Mutex<[UUID: (misses: Int, skip: Int)]>([:])

    /// Whether a full round skips the org this time (counting the skip down).
    func skips(_ org: UUID) -> Bool {
        state.withLock { idle in
            guard var entry = idle[org], entry.skip > 0 else { return false }
            entry.skip -= 1
            idle[org] = entry
            return true
        }
    }

    func found(_ org: UUID, work: Bool) {
        state.withLock { idle in
            if work {
                idle[org] = nil
            } else {
                let misses = (idle[org]?.misses ?? 0) + 1
                idle[org] = (misses, 1 << min(misses, 6))
            }
            if idle.count > 100_000 { idle.removeAll() }
        }
    }
}

/// Runs the jobs of the engine (`dispatch: engine`): every gateway process takes part, no leader. Each round
/// it finds the orgs with pending or running jobs (the jobs mirror in the metadata database, and the orgs woken
/// in this process), and for each settles its jobs and claims due executions in the org's own database
/// (`JobEngineStore.round`); each claimed execution is an HTTP call to a healthy service of its definition, as
/// the definition's interface_spec describes it (request and response checked against the operation's
/// schemas), bounded by its timeout. The execution's lease outlives the call's timeout, so a process killed
/// mid-call leaves an attempt that another process ends and retries.
public struct JobEngine: Service {
    let metadata: PostgresClient
    let tenants: TenantDatabases
    let catalog: EngineCatalog
    let policy: OutboundPolicy
    let interval: Duration
    let maxRunning: Int
    let leaseGrace: Int
    let callbackBase: CallbackBase
    let links: ArtifactLinks
    let waker: EngineWaker
    let owner: String
    /// The longest the listing of active orgs, and one org's round (not its calls), may wait on a database.
    let passDeadline: Duration
    /// Ended calls counted per org too (`metrics.per_org`).
    let perOrgMetrics: Bool
    let logger: Logger
    let inFlight = InFlight()
    let idle = EngineIdleOrgs()

    /// The calls this process is making, by execution.
    final class InFlight: Sendable {
        let tasks = Mutex<[UUID: Task<Void, Never>]>([:])
        func add(_ id: UUID, _ task: Task<Void, Never>) { tasks.withLock { $0[id] = task } }
        func remove(_ id: UUID) { _ = tasks.withLock { $0.removeValue(forKey: id) } }
        /// Calls in flight now.
        var count: Int { tasks.withLock { $0.count } }
        func cancel(_ id: UUID) { tasks.withLock { $0[id] }?.cancel() }
        func cancelAll() {
            for task in tasks.withLock({ Array($0.values) }) { task.cancel() }
        }
    }

    init(
        metadata: PostgresClient, tenants: TenantDatabases, catalog: EngineCatalog, policy: OutboundPolicy,
        interval: Duration, maxRunning: Int, leaseGrace: Int, callbackBase: CallbackBase, links: ArtifactLinks,
        waker: EngineWaker, passDeadline: Duration = .seconds(60), perOrgMetrics: Bool = false, logger: Logger
    ) {
        self.perOrgMetrics = perOrgMetrics
        self.passDeadline = passDeadline
        self.leaseGrace = leaseGrace
        self.links = links
        self.metadata = metadata
        self.tenants = tenants
        self.catalog = catalog
        self.policy = policy
        self.interval = interval
        self.maxRunning = maxRunning
        self.callbackBase = callbackBase
        self.waker = waker
        self.owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var last = ContinuousClock.now - interval
            while !Task.isCancelled {
                let full = ContinuousClock.now - last >= interval
                if full { last = .now }
                await round(all: full)
                // Until the next full round, or sooner when something wakes an org.
                while !Task.isCancelled, !waker.isWoken, ContinuousClock.now - last < interval {
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        inFlight.cancelAll()
    }

    /// One pass over the orgs woken in this process and, when `all`, every org with active jobs.
    func round(all: Bool) async {
        var orgs = waker.take()
        if all {
            do {
                let active = try await withDeadline(passDeadline) { [metadata, logger] in
                    try await metadata.withConnection { try await JobMirror.activeOrgs(on: $0, logger: logger) }
                }
                orgs.formUnion(active.filter { !idle.skips($0) })
            } catch {
                logger.warning(
                    "job engine: listing orgs failed", metadata: ["error": "\(describeDatabaseError(error))"])
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for (index, org) in orgs.enumerated() {
                if index >= 8 { await group.next() }
                group.addTask {
                    do {
                        try await withDeadline(passDeadline) { await self.round(org: org, settleAll: all) }
                    } catch {
                        logger.warning(
                            "job engine round did not end in time; the next round takes the org up",
                            metadata: ["org": "\(org)"])
                    }
                }
            }
        }
    }

    /// One org's round: settle, claim, call; then the cancel calls of executions of cancelled jobs.
    func round(org: UUID, settleAll: Bool) async {
        let store = JobEngineStore(org: org, databases: tenants, logger: logger)
        do {
            let (versions, hasCancels) = try await store.pending()
            idle.found(org, work: !versions.isEmpty || hasCancels)
            guard !versions.isEmpty || hasCancels else { return }
            let knowledge = try await catalog.knowledge(org: org, versions: versions, logger: logger)
            // Input files' download links last as long as the longest call may, and ten minutes more.
            let seconds = min(
                ArtifactLinks.maxSeconds, (knowledge.configs.values.map(\.timeoutSeconds).max() ?? 0) + 600)
            let base = callbackBase.url
            let (calls, cancels) = try await store.round(
                knowledge, owner: owner, maxRunning: maxRunning, leaseGrace: leaseGrace, callbackBase: base,
                settleAll: settleAll
            ) { [links] artifact in
                let expires = Date(
                    timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(seconds)).rounded(.down))
                return "\(base)/v1/artifact-downloads/\(links.token(org: org, artifact: artifact, expires: expires))"
            }
            for call in calls {
                guard let definition = catalog.definition(call.definitionID, org: org) else { continue }
                start(call, definition, steps: knowledge.versions[call.version] ?? [])
            }
            for cancel in cancels { inFlight.cancel(cancel.executionID) }
            for (cancel, definition, url) in try await catalog.cancelTargets(org: org, cancels, logger: logger) {
                sendCancel(cancel, definition, url: url)
            }
        } catch {
            logger.warning(
                "job engine round failed", metadata: ["org": "\(org)", "error": "\(describeDatabaseError(error))"])
        }
    }

    func start(_ call: EngineCall, _ definition: EngineDefinition, steps: [ResolvedStep]) {
        let store = JobEngineStore(org: call.org, databases: tenants, logger: logger)
        let task = Task { [owner, inFlight, waker, logger] in
            let outcome = await perform(call, definition)
            Counter(label: "tessera_job_executions_total", dimensions: outcomeDimensions(outcome, org: call.org))
                .increment()
            do {
                try await store.finish(call, outcome, owner: owner, steps: steps, config: definition.config)
            } catch {
                // The lease runs out and another round ends the attempt.
                logger.warning(
                    "job engine: recording a call's end failed",
                    metadata: ["execution": "\(call.executionID)", "error": "\(describeDatabaseError(error))"])
            }
            inFlight.remove(call.executionID)
            waker.wake(call.org)
        }
        inFlight.add(call.executionID, task)
    }

    /// The labels of an ended call: `outcome` (completed, accepted, retrying, failed) and, with `metrics.per_org`,
    /// its org.
    func outcomeDimensions(_ outcome: EngineOutcome, org: UUID) -> [(String, String)] {
        let label =
            switch outcome {
            case .completed: "completed"
            case .accepted: "accepted"
            case .failed(_, let retryable): retryable ? "retryable_failure" : "failed"
            }
        return perOrgMetrics ? [("outcome", label), ("org", "\(org)")] : [("outcome", label)]
    }

    /// The call of one execution, and how it ended.
    func perform(_ call: EngineCall, _ definition: EngineDefinition) async -> EngineOutcome {
        guard let (operation, document) = definition.operation(definition.config.operation) else {
            return .failed(
                "the interface_spec has no operation \(definition.config.operation.map { "'\($0)'" } ?? "to call") (service_config.operation)",
                retryable: false)
        }
        guard let request = try? JSONSerialization.jsonObject(with: call.body) else {
            return .failed("the request could not be written", retryable: false)
        }
        let problems = operation.requestProblems(request, document: document)
        guard problems.isEmpty else {
            return .failed(
                "the request does not match the interface_spec: \(problems.prefix(3).joined(separator: "; "))",
                retryable: false)
        }
        let timeout = TimeAmount.seconds(Int64(definition.config.timeoutSeconds))
        let answer: OutboundAnswer
        do {
            answer = try await OutboundCall(policy: policy).send(
                base: call.service.url,
                path: operation.path(filling: [
                    "execution_id": call.executionID.uuidString.lowercased(),
                    "job_id": call.jobID.uuidString.lowercased(), "step_key": call.stepKey,
                ]), method: operation.method, body: call.body, timeout: timeout)
        } catch let failure as OutboundCall.Failure {
            return .failed(failure.reason, retryable: failure.retryable)
        } catch {
            return .failed("the call was stopped", retryable: true)
        }
        if answer.status == 202 { return .accepted }
        guard (200..<300).contains(answer.status) else {
            let retryable = answer.status >= 500 || answer.status == 408 || answer.status == 429
            return .failed("HTTP \(answer.status): \(answer.excerpt)", retryable: retryable)
        }
        let bytes = answer.body.isEmpty ? Data("{}".utf8) : answer.body
        guard let result = try? JSONSerialization.jsonObject(with: bytes, options: .fragmentsAllowed) else {
            return .failed("HTTP \(answer.status): the answer is not JSON", retryable: false)
        }
        let wrong = operation.responseProblems(result, status: answer.status, document: document)
        guard wrong.isEmpty else {
            return .failed(
                "the answer does not match the interface_spec: \(wrong.prefix(3).joined(separator: "; "))",
                retryable: false)
        }
        return .completed(String(decoding: bytes, as: UTF8.self))
    }

    /// Calls the cancel operation of a cancelled execution's service (at `url`).
    func sendCancel(_ cancel: EngineCancel, _ definition: EngineDefinition, url: String) {
        guard let cancelID = definition.config.cancelOperation, let (operation, _) = definition.operation(cancelID)
        else { return }
        let body =
            (try? CanonicalJSON.encode([
                "execution_id": cancel.executionID.uuidString.lowercased(),
                "job_id": cancel.jobID.uuidString.lowercased(),
            ])).map { Data($0) } ?? Data()
        Task { [policy, logger] in
            do {
                let answer = try await OutboundCall(policy: policy).send(
                    base: url,
                    path: operation.path(filling: ["execution_id": cancel.executionID.uuidString.lowercased()]),
                    method: operation.method, body: body, timeout: .seconds(10))
                logger.info(
                    "job engine: cancel sent",
                    metadata: ["execution": "\(cancel.executionID)", "status": "\(answer.status)"])
            } catch {
                logger.warning("job engine: cancel call failed", metadata: ["execution": "\(cancel.executionID)"])
            }
        }
    }
}
