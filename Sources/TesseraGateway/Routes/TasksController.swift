import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import TesseraCore
import TesseraPostgres
import TesseraProvisioning

/// `/v1/orgs/{org}/task-definitions` and `/task-services`, in the metadata database; every change appends its
/// audit record in the same transaction.
struct TasksController: MetadataController {
    let client: PostgresClient
    let skipAuditForBenchmark: Bool
    let work: Settings.Work
    let baseLogger: Logger

    func taskStore() throws -> TaskStore { TaskStore(org: try Tenant.required().orgID, logger: logger) }

    func createTaskDefinition(_ input: Operations.createTaskDefinition.Input) async throws
        -> Operations.createTaskDefinition.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        var problems: [String] = []
        if body.task_id.range(of: #"^[a-z0-9][a-z0-9_.-]{0,127}$"#, options: .regularExpression) == nil {
            problems.append("task_id: 1–128 of a-z, 0-9, '_', '.', '-', starting with a letter or digit")
        }
        if SemanticVersion(body.version) == nil {
            problems.append("version: '\(body.version)' is not a semantic version (such as 1.2.0)")
        }
        let spec = try Self.jsonText(body.interface_spec)
        problems += InterfaceSpec.problems(Data(spec.utf8))
        let serviceConfig = try Self.jsonText(body.service_config ?? .init())
        problems += Self.serviceConfigProblems(serviceConfig, spec: spec)
        guard problems.isEmpty else { throw TesseraError.invalid(problems) }
        let store = try taskStore()
        let principal = RequestScope.principal
        let created = try await change { connection, trail -> TaskDefinitionRecord? in
            guard
                let definition = try await store.create(
                    taskID: body.task_id, version: body.version, metadata: try Self.jsonText(body.metadata ?? .init()),
                    interfaceSpec: spec,
                    serviceConfig: serviceConfig,
                    createdBy: principal.flatMap(Self.userID(of:)),
                    on: connection)
            else { return nil }
            try await trail.append(
                audit(
                    .taskDefinitionCreate, org: store.org, entityType: "task_definition", entityID: definition.id,
                    metadata: ["task_id": definition.taskID, "version": definition.version]))
            return definition
        }
        guard let created else {
            throw TesseraError.conflict(
                "the org has \(body.task_id) version \(body.version); definitions are immutable")
        }
        return .created(.init(body: .json(try Self.schema(created))))
    }

    /// What is wrong with a definition's service_config for the engine: its fields, and operations it names that
    /// the interface_spec lacks.
    static func serviceConfigProblems(_ config: String, spec: String) -> [String] {
        switch TaskServiceConfig.parse(Data(config.utf8)) {
        case .failure(let problems): return problems.all
        case .success(let parsed):
            let definition = EngineDefinition(config: parsed, spec: Data(spec.utf8))
            var problems: [String] = []
            if let id = parsed.operation, definition.operation(id) == nil {
                problems.append("service_config.operation: the interface_spec has no operation '\(id)'")
            }
            if let id = parsed.cancelOperation, definition.operation(id) == nil {
                problems.append("service_config.cancel_operation: the interface_spec has no operation '\(id)'")
            }
            return problems
        }
    }

    func listTaskDefinitions(_ input: Operations.listTaskDefinitions.Input) async throws
        -> Operations.listTaskDefinitions.Output
    {
        let store = try taskStore()
        let records = try await client.withConnection { try await store.list(taskID: input.query.task_id, on: $0) }
        return .ok(.init(body: .json(.init(items: try records.map(Self.schema)))))
    }

    func getTaskDefinition(_ input: Operations.getTaskDefinition.Input) async throws
        -> Operations.getTaskDefinition.Output
    {
        let store = try taskStore()
        let id = try Self.objectID(input.path.id)
        guard let record = try await client.withConnection({ try await store.get(id, on: $0) }) else {
            throw TesseraError.notFound("no such task definition")
        }
        return .ok(.init(body: .json(try Self.schema(record))))
    }

    func activateTaskDefinition(_ input: Operations.activateTaskDefinition.Input) async throws
        -> Operations.activateTaskDefinition.Output
    {
        .ok(.init(body: .json(try await setActive(input.path.id, true))))
    }

    func deactivateTaskDefinition(_ input: Operations.deactivateTaskDefinition.Input) async throws
        -> Operations.deactivateTaskDefinition.Output
    {
        .ok(.init(body: .json(try await setActive(input.path.id, false))))
    }

    func setActive(_ rawID: String, _ active: Bool) async throws -> Components.Schemas.TaskDefinition {
        let store = try taskStore()
        let id = try Self.objectID(rawID)
        let outcome = try await change { connection, trail in
            let outcome = try await store.setActive(id, active, on: connection)
            if case .updated(let definition, changed: true) = outcome {
                try await trail.append(
                    audit(
                        active ? .taskDefinitionActivate : .taskDefinitionDeactivate, org: store.org,
                        entityType: "task_definition",
                        entityID: id, metadata: ["task_id": definition.taskID, "version": definition.version]))
            }
            return outcome
        }
        switch outcome {
        case .updated(let record, _): return try Self.schema(record)
        case .notFound: throw TesseraError.notFound("no such task definition")
        case .system: throw TesseraError.forbidden("system task definitions are read-only")
        }
    }

    func registerTaskService(_ input: Operations.registerTaskService.Input) async throws
        -> Operations.registerTaskService.Output
    {
        guard case .json(let body) = input.body else { throw TesseraError.badRequest("expected a JSON body") }
        let definition = try Self.reference(body.task_definition_id, "task_definition_id")
        guard let url = URLComponents(string: body.service_url), ["http", "https"].contains(url.scheme ?? ""),
            let host = url.host, !host.isEmpty, url.user == nil, url.password == nil
        else {
            throw TesseraError.unprocessable("service_url must be an http or https URL without credentials")
        }
        // Only public addresses, unless the operator allows private ones (the health checker asks again
        // before every call: a name may come to resolve elsewhere).
        do { try await OutboundPolicy(allowPrivate: work.allowPrivateServices).check(host: host) } catch {
            throw TesseraError.unprocessable(
                "service_url: \(error.reason)\(error == .notPublic ? " (work.allow_private_services allows it)" : "")")
        }
        let healthPath = body.health_path ?? "/health"
        guard healthPath.hasPrefix("/") else { throw TesseraError.unprocessable("health_path starts with /") }
        let store = try taskStore()
        let limit = work.maxServicesPerOrg
        let registered = try await change { connection, trail -> TaskServiceRecord? in
            guard try await store.get(definition, on: connection) != nil else {
                throw TesseraError.unprocessable("no task definition \(body.task_definition_id)")
            }
            let used = try await store.lockAndCountServices(on: connection)
            guard used < limit else {
                throw TesseraError.quotaExceeded(quota: "task_services", limit: limit, used: used)
            }
            guard
                let service = try await store.registerService(
                    definition: definition, url: body.service_url, healthPath: healthPath, on: connection)
            else { return nil }
            try await trail.append(
                audit(
                    .taskServiceRegister, org: store.org, entityType: "task_service", entityID: service.id,
                    metadata: ["task_definition_id": Self.id(definition), "service_url": service.serviceURL]))
            return service
        }
        guard let registered else { throw TesseraError.conflict("that service URL is registered for the definition") }
        return .created(.init(body: .json(Self.schema(registered))))
    }

    func listTaskServices(_ input: Operations.listTaskServices.Input) async throws -> Operations.listTaskServices.Output
    {
        let store = try taskStore()
        let definition = try input.query.task_definition_id.map { try Self.reference($0, "task_definition_id") }
        let services = try await client.withConnection { try await store.services(definition: definition, on: $0) }
        return .ok(.init(body: .json(.init(items: services.map(Self.schema)))))
    }

    func removeTaskService(_ input: Operations.removeTaskService.Input) async throws
        -> Operations.removeTaskService.Output
    {
        let store = try taskStore()
        let id = try Self.objectID(input.path.id)
        let removed = try await change { connection, trail -> Bool in
            guard let service = try await store.removeService(id, on: connection) else { return false }
            try await trail.append(
                audit(
                    .taskServiceRemove, org: store.org, entityType: "task_service", entityID: id,
                    metadata: ["service_url": service.serviceURL]))
            return true
        }
        guard removed else { throw TesseraError.notFound("no such task service") }
        return .noContent(.init())
    }

    static func schema(_ d: TaskDefinitionRecord) throws -> Components.Schemas.TaskDefinition {
        .init(
            id: id(d.id), task_id: d.taskID, version: d.version, is_system: d.isSystem, active: d.active,
            metadata: try jsonValue(d.metadata),
            interface_spec: try jsonValue(d.interfaceSpec), service_config: try jsonValue(d.serviceConfig),
            created_at: d.createdAt)
    }

    static func schema(_ s: TaskServiceRecord) -> Components.Schemas.TaskService {
        .init(
            id: id(s.id), task_definition_id: id(s.taskDefinitionID), service_url: s.serviceURL,
            health_path: s.healthPath,
            health_status: .init(rawValue: s.healthStatus) ?? .unknown, consecutive_failures: s.consecutiveFailures,
            last_health_check: s.lastHealthCheck, last_error: s.lastError, created_at: s.createdAt)
    }
}
