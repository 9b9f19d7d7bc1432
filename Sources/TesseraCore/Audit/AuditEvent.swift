import Foundation

/// Every action the audit log knows, `noun.verb`, in one place (the README lists them).
public enum AuditAction: String, Sendable, CaseIterable, Codable {
    case authFailed = "auth.failed"
    case accessDenied = "access.denied"
    case sessionLogin = "session.login"
    case sessionLogout = "session.logout"
    case invitationAccept = "invitation.accept"
    case apiKeyCreate = "api_key.create"
    case apiKeyRevoke = "api_key.revoke"
    case apiKeyRotate = "api_key.rotate"
    case memberAdd = "member.add"
    case memberUpdate = "member.update"
    case memberRemove = "member.remove"
    case roleCreate = "role.create"
    case roleDelete = "role.delete"
    case orgCreate = "org.create"
    case orgProvisionStep = "org.provision_step"
    case orgReady = "org.ready"
    case orgProvisionFail = "org.provision_fail"
    case orgProvisionRetry = "org.provision_retry"
    case orgSuspend = "org.suspend"
    case orgQuotasSet = "org.quotas_set"
    case orgPurgeRequest = "org.purge_request"
    case orgPurge = "org.purge"
    case datasetCreate = "dataset.create"
    case datasetDelete = "dataset.delete"
    case rowsImport = "rows.import"
    case modelCreate = "model.create"
    case modelDelete = "model.delete"
    case promptCreate = "prompt.create"
    case promptDelete = "prompt.delete"
    case runCreate = "run.create"
    case runCancel = "run.cancel"
    case runDelete = "run.delete"
    case runClaim = "run.claim"
    case runHeartbeat = "run.heartbeat"
    case runLeaseExpire = "run.lease_expire"
    case predictionSubmit = "prediction.submit"
    case evaluationCreate = "evaluation.create"
    case ontologyCreate = "ontology.create"
    case ontologyDelete = "ontology.delete"
    case artifactCreate = "artifact.create"
    case artifactDelete = "artifact.delete"
    case moleculeCreate = "molecule.create"
    case moleculeDelete = "molecule.delete"
    case annotationSetCreate = "annotation_set.create"
    case predictionSetCreate = "prediction_set.create"
    case evaluationSetCreate = "evaluation_set.create"
    case cafaEvaluationCreate = "cafa_evaluation.create"
    case querySetCreate = "query_set.create"
    case ontologyInformationAccretionSet = "ontology.ia_set"
    case evaluationResultCreate = "evaluation_result.create"
    case embeddingConfigCreate = "embedding_config.create"
    case embeddingStore = "embedding.store"
    case jobCreate = "job.create"
    case jobCacheHit = "job.cache_hit"
    case jobTransition = "job.transition"
    case jobExecutionCreate = "job.execution_create"
    case jobExecutionTransition = "job.execution_transition"
    case jobLogAppend = "job.log_append"
    case jobResultAdd = "job.result_add"
    case jobOutputAdd = "job.output_add"
    case jobCommentAdd = "job.comment_add"
    case taskDefinitionCreate = "task_definition.create"
    case taskDefinitionActivate = "task_definition.activate"
    case taskDefinitionDeactivate = "task_definition.deactivate"
    case taskServiceRegister = "task_service.register"
    case taskServiceRemove = "task_service.remove"
    case taskServiceHealth = "task_service.health"
    case pipelineTemplateCreate = "pipeline_template.create"
    case pipelineCreate = "pipeline.create"
    case pipelineDelete = "pipeline.delete"
    case pipelineVersionCreate = "pipeline_version.create"
    case pipelineVersionUpdate = "pipeline_version.update"
    case pipelineVersionPublish = "pipeline_version.publish"
    case auditAnchor = "audit.anchor"
    case auditRetentionSet = "audit.retention_set"
    case databaseServerRegister = "database_server.register"
    case databaseServerDrain = "database_server.drain"
    case platformAdminBootstrap = "platform_admin.bootstrap"
    case accountSignup = "account.signup"
    case accountVerify = "account.verify"
    case passwordResetRequest = "password_reset.request"
    case passwordResetComplete = "password_reset.complete"
    case mailQueue = "mail.queue"
    case mailSend = "mail.send"
    case mailFail = "mail.fail"
    case identityProviderCreate = "identity_provider.create"
    case identityProviderDelete = "identity_provider.delete"
    case identityLink = "identity.link"
    case auditRelayReject = "audit.relay_reject"

    /// Written by a change in an org's own database, to its outbox: the only actions the audit relay accepts
    /// from there (an org's database is not trusted to speak for the platform).
    public var isTenantAction: Bool {
        switch self {
        case .datasetCreate, .datasetDelete, .rowsImport, .modelCreate, .modelDelete, .promptCreate, .promptDelete,
            .runCreate, .runCancel, .runDelete, .runClaim,
            .runHeartbeat, .runLeaseExpire, .predictionSubmit, .evaluationCreate, .ontologyCreate, .ontologyDelete,
            .artifactCreate, .artifactDelete, .moleculeCreate, .moleculeDelete,
            .annotationSetCreate, .predictionSetCreate, .evaluationSetCreate, .cafaEvaluationCreate,
            .querySetCreate, .ontologyInformationAccretionSet, .evaluationResultCreate, .embeddingConfigCreate,
            .embeddingStore, .jobCreate, .jobCacheHit, .jobTransition,
            .jobExecutionCreate, .jobExecutionTransition, .jobLogAppend,
            .jobResultAdd, .jobOutputAdd, .jobCommentAdd:
            true
        default:
            false
        }
    }
}

public enum AuditOutcome: String, Sendable, Codable {
    case succeeded, denied, failed
}

public enum ActorKind: String, Sendable, Codable {
    case user
    case apiKey = "api_key"
    case platformAdmin = "platform_admin"
    case system
}

/// One audit record before the database numbers and chains it.
public struct AuditEvent: Sendable {
    public var eventID: UUID
    public var org: UUID?
    public var actorKind: ActorKind
    public var actorID: UUID?
    public var actorDisplay: String?
    public var action: AuditAction
    public var entityType: String?
    public var entityID: String?
    public var outcome: AuditOutcome
    public var requestID: String?
    public var clientIP: String?
    public var userAgent: String?
    /// Never a secret: keys, passwords and tokens are never put here.
    public var metadata: [String: String]

    public init(
        org: UUID?, actorKind: ActorKind, actorID: UUID? = nil, actorDisplay: String? = nil, action: AuditAction,
        entityType: String? = nil, entityID: String? = nil, outcome: AuditOutcome = .succeeded,
        requestID: String? = nil,
        clientIP: String? = nil, userAgent: String? = nil, metadata: [String: String] = [:], eventID: UUID = UUID()
    ) {
        self.eventID = eventID
        self.org = org
        self.actorKind = actorKind
        self.actorID = actorID
        self.actorDisplay = actorDisplay
        self.action = action
        self.entityType = entityType
        self.entityID = entityID
        self.outcome = outcome
        self.requestID = requestID
        self.clientIP = clientIP
        self.userAgent = userAgent
        self.metadata = metadata
    }

    /// The actor fields of a principal.
    public static func actor(_ principal: Principal?) -> (ActorKind, UUID?, String?) {
        guard let principal else { return (.system, nil, nil) }
        switch principal.kind {
        case .platformAdmin(let id): return (.platformAdmin, id, principal.display)
        case .apiKey(let id): return (.apiKey, id, principal.display)
        case .user(let id, _): return (principal.isPlatformAdmin ? .platformAdmin : .user, id, principal.display)
        }
    }
}
