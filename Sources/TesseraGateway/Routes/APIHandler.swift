import OpenAPIRuntime

/// The generated `APIProtocol`: hands each operation to the controller of its route family. Nothing else
/// happens here; a controller holds only its own dependencies (see `buildRouter`). A class: the generated
/// server captures it in every route, and a struct of fifteen controllers would be copied on each request.
final class APIHandler: APIProtocol {
    let system: SystemController
    let orgs: OrgsController
    let members: MembersController
    let roles: RolesController
    let apiKeys: APIKeysController
    let auth: AuthController
    let mail: MailController
    let datasets: DatasetsController
    let predictions: PredictionsController
    let evaluations: EvaluationsController
    let cafa: CAFAController
    let artifacts: ArtifactsController
    let jobs: JobsController
    let molecules: MoleculesController
    let proteins: ProteinsController
    let tasks: TasksController
    let pipelines: PipelinesController
    let auditLogs: AuditLogsController
    let identityProviders: IdentityProvidersController

    init(
        system: SystemController,
        orgs: OrgsController,
        members: MembersController,
        roles: RolesController,
        apiKeys: APIKeysController,
        auth: AuthController,
        mail: MailController,
        datasets: DatasetsController,
        predictions: PredictionsController,
        evaluations: EvaluationsController,
        cafa: CAFAController,
        artifacts: ArtifactsController,
        jobs: JobsController,
        molecules: MoleculesController,
        proteins: ProteinsController,
        tasks: TasksController,
        pipelines: PipelinesController,
        auditLogs: AuditLogsController,
        identityProviders: IdentityProvidersController
    ) {
        self.system = system
        self.orgs = orgs
        self.members = members
        self.roles = roles
        self.apiKeys = apiKeys
        self.auth = auth
        self.mail = mail
        self.datasets = datasets
        self.predictions = predictions
        self.evaluations = evaluations
        self.cafa = cafa
        self.artifacts = artifacts
        self.jobs = jobs
        self.molecules = molecules
        self.proteins = proteins
        self.tasks = tasks
        self.pipelines = pipelines
        self.auditLogs = auditLogs
        self.identityProviders = identityProviders
    }

    // MARK: System

    func getHealthz(_ input: Operations.getHealthz.Input) async throws -> Operations.getHealthz.Output {
        try await system.getHealthz(input)
    }

    func getReadyz(_ input: Operations.getReadyz.Input) async throws -> Operations.getReadyz.Output {
        try await system.getReadyz(input)
    }

    func getOpenAPIDocument(_ input: Operations.getOpenAPIDocument.Input) async throws
        -> Operations.getOpenAPIDocument.Output
    {
        try await system.getOpenAPIDocument(input)
    }

    // MARK: Orgs

    func createOrg(_ input: Operations.createOrg.Input) async throws -> Operations.createOrg.Output {
        try await orgs.createOrg(input)
    }

    func listOrgs(_ input: Operations.listOrgs.Input) async throws -> Operations.listOrgs.Output {
        try await orgs.listOrgs(input)
    }

    func getOrg(_ input: Operations.getOrg.Input) async throws -> Operations.getOrg.Output {
        try await orgs.getOrg(input)
    }

    func getProvisioning(_ input: Operations.getProvisioning.Input) async throws -> Operations.getProvisioning.Output {
        try await orgs.getProvisioning(input)
    }

    func retryProvisioning(_ input: Operations.retryProvisioning.Input) async throws
        -> Operations.retryProvisioning.Output
    {
        try await orgs.retryProvisioning(input)
    }

    func setOrgQuotas(_ input: Operations.setOrgQuotas.Input) async throws -> Operations.setOrgQuotas.Output {
        try await orgs.setOrgQuotas(input)
    }

    func deleteOrg(_ input: Operations.deleteOrg.Input) async throws -> Operations.deleteOrg.Output {
        try await orgs.deleteOrg(input)
    }

    // MARK: Members

    func listMembers(_ input: Operations.listMembers.Input) async throws -> Operations.listMembers.Output {
        try await members.listMembers(input)
    }

    func addMember(_ input: Operations.addMember.Input) async throws -> Operations.addMember.Output {
        try await members.addMember(input)
    }

    func setMemberRoles(_ input: Operations.setMemberRoles.Input) async throws -> Operations.setMemberRoles.Output {
        try await members.setMemberRoles(input)
    }

    func removeMember(_ input: Operations.removeMember.Input) async throws -> Operations.removeMember.Output {
        try await members.removeMember(input)
    }

    // MARK: Roles

    func listRoles(_ input: Operations.listRoles.Input) async throws -> Operations.listRoles.Output {
        try await roles.listRoles(input)
    }

    func createRole(_ input: Operations.createRole.Input) async throws -> Operations.createRole.Output {
        try await roles.createRole(input)
    }

    func deleteRole(_ input: Operations.deleteRole.Input) async throws -> Operations.deleteRole.Output {
        try await roles.deleteRole(input)
    }

    // MARK: APIKeys

    func createAPIKey(_ input: Operations.createAPIKey.Input) async throws -> Operations.createAPIKey.Output {
        try await apiKeys.createAPIKey(input)
    }

    func listAPIKeys(_ input: Operations.listAPIKeys.Input) async throws -> Operations.listAPIKeys.Output {
        try await apiKeys.listAPIKeys(input)
    }

    func getAPIKey(_ input: Operations.getAPIKey.Input) async throws -> Operations.getAPIKey.Output {
        try await apiKeys.getAPIKey(input)
    }

    func revokeAPIKey(_ input: Operations.revokeAPIKey.Input) async throws -> Operations.revokeAPIKey.Output {
        try await apiKeys.revokeAPIKey(input)
    }

    func rotateAPIKey(_ input: Operations.rotateAPIKey.Input) async throws -> Operations.rotateAPIKey.Output {
        try await apiKeys.rotateAPIKey(input)
    }

    // MARK: Auth

    func signUp(_ input: Operations.signUp.Input) async throws -> Operations.signUp.Output {
        try await auth.signUp(input)
    }

    func verifySignUp(_ input: Operations.verifySignUp.Input) async throws -> Operations.verifySignUp.Output {
        try await auth.verifySignUp(input)
    }

    func requestPasswordReset(_ input: Operations.requestPasswordReset.Input) async throws
        -> Operations.requestPasswordReset.Output
    {
        try await auth.requestPasswordReset(input)
    }

    func confirmPasswordReset(_ input: Operations.confirmPasswordReset.Input) async throws
        -> Operations.confirmPasswordReset.Output
    {
        try await auth.confirmPasswordReset(input)
    }

    func login(_ input: Operations.login.Input) async throws -> Operations.login.Output {
        try await auth.login(input)
    }

    func logout(_ input: Operations.logout.Input) async throws -> Operations.logout.Output {
        try await auth.logout(input)
    }

    func whoami(_ input: Operations.whoami.Input) async throws -> Operations.whoami.Output {
        try await auth.whoami(input)
    }

    func acceptInvitation(_ input: Operations.acceptInvitation.Input) async throws -> Operations.acceptInvitation.Output
    {
        try await auth.acceptInvitation(input)
    }

    // MARK: Mail

    func listMail(_ input: Operations.listMail.Input) async throws -> Operations.listMail.Output {
        try await mail.listMail(input)
    }

    // MARK: Datasets

    func listDatasets(_ input: Operations.listDatasets.Input) async throws -> Operations.listDatasets.Output {
        try await datasets.listDatasets(input)
    }

    func createDataset(_ input: Operations.createDataset.Input) async throws -> Operations.createDataset.Output {
        try await datasets.createDataset(input)
    }

    func importRows(_ input: Operations.importRows.Input) async throws -> Operations.importRows.Output {
        try await datasets.importRows(input)
    }

    func listRows(_ input: Operations.listRows.Input) async throws -> Operations.listRows.Output {
        try await datasets.listRows(input)
    }

    func getDataset(_ input: Operations.getDataset.Input) async throws -> Operations.getDataset.Output {
        try await datasets.getDataset(input)
    }

    func deleteDataset(_ input: Operations.deleteDataset.Input) async throws -> Operations.deleteDataset.Output {
        try await datasets.deleteDataset(input)
    }

    // MARK: Predictions

    func createModel(_ input: Operations.createModel.Input) async throws -> Operations.createModel.Output {
        try await predictions.createModel(input)
    }

    func listModels(_ input: Operations.listModels.Input) async throws -> Operations.listModels.Output {
        try await predictions.listModels(input)
    }

    func createPrompt(_ input: Operations.createPrompt.Input) async throws -> Operations.createPrompt.Output {
        try await predictions.createPrompt(input)
    }

    func listPrompts(_ input: Operations.listPrompts.Input) async throws -> Operations.listPrompts.Output {
        try await predictions.listPrompts(input)
    }

    func getModel(_ input: Operations.getModel.Input) async throws -> Operations.getModel.Output {
        try await predictions.getModel(input)
    }

    func deleteModel(_ input: Operations.deleteModel.Input) async throws -> Operations.deleteModel.Output {
        try await predictions.deleteModel(input)
    }

    func getPrompt(_ input: Operations.getPrompt.Input) async throws -> Operations.getPrompt.Output {
        try await predictions.getPrompt(input)
    }

    func deletePrompt(_ input: Operations.deletePrompt.Input) async throws -> Operations.deletePrompt.Output {
        try await predictions.deletePrompt(input)
    }

    func createRun(_ input: Operations.createRun.Input) async throws -> Operations.createRun.Output {
        try await predictions.createRun(input)
    }

    func listRuns(_ input: Operations.listRuns.Input) async throws -> Operations.listRuns.Output {
        try await predictions.listRuns(input)
    }

    func getRun(_ input: Operations.getRun.Input) async throws -> Operations.getRun.Output {
        try await predictions.getRun(input)
    }

    func cancelRun(_ input: Operations.cancelRun.Input) async throws -> Operations.cancelRun.Output {
        try await predictions.cancelRun(input)
    }

    func deleteRun(_ input: Operations.deleteRun.Input) async throws -> Operations.deleteRun.Output {
        try await predictions.deleteRun(input)
    }

    func listPredictions(_ input: Operations.listPredictions.Input) async throws -> Operations.listPredictions.Output {
        try await predictions.listPredictions(input)
    }

    func exportPredictions(_ input: Operations.exportPredictions.Input) async throws
        -> Operations.exportPredictions.Output
    {
        try await predictions.exportPredictions(input)
    }

    func claimWork(_ input: Operations.claimWork.Input) async throws -> Operations.claimWork.Output {
        try await predictions.claimWork(input)
    }

    func heartbeatWork(_ input: Operations.heartbeatWork.Input) async throws -> Operations.heartbeatWork.Output {
        try await predictions.heartbeatWork(input)
    }

    func submitPredictions(_ input: Operations.submitPredictions.Input) async throws
        -> Operations.submitPredictions.Output
    {
        try await predictions.submitPredictions(input)
    }

    // MARK: Evaluations

    func createRunEvaluation(_ input: Operations.createRunEvaluation.Input) async throws
        -> Operations.createRunEvaluation.Output
    {
        try await evaluations.createRunEvaluation(input)
    }

    func listRunEvaluations(_ input: Operations.listRunEvaluations.Input) async throws
        -> Operations.listRunEvaluations.Output
    {
        try await evaluations.listRunEvaluations(input)
    }

    func getRunEvaluation(_ input: Operations.getRunEvaluation.Input) async throws -> Operations.getRunEvaluation.Output
    {
        try await evaluations.getRunEvaluation(input)
    }

    func getLeaderboard(_ input: Operations.getLeaderboard.Input) async throws -> Operations.getLeaderboard.Output {
        try await evaluations.getLeaderboard(input)
    }

    // MARK: CAFA

    func uploadOntology(_ input: Operations.uploadOntology.Input) async throws -> Operations.uploadOntology.Output {
        try await cafa.uploadOntology(input)
    }

    func listOntologies(_ input: Operations.listOntologies.Input) async throws -> Operations.listOntologies.Output {
        try await cafa.listOntologies(input)
    }

    func getOntology(_ input: Operations.getOntology.Input) async throws -> Operations.getOntology.Output {
        try await cafa.getOntology(input)
    }

    func deleteOntology(_ input: Operations.deleteOntology.Input) async throws -> Operations.deleteOntology.Output {
        try await cafa.deleteOntology(input)
    }

    func getOntologyTerm(_ input: Operations.getOntologyTerm.Input) async throws -> Operations.getOntologyTerm.Output {
        try await cafa.getOntologyTerm(input)
    }

    func createAnnotationSet(_ input: Operations.createAnnotationSet.Input) async throws
        -> Operations.createAnnotationSet.Output
    {
        try await cafa.createAnnotationSet(input)
    }

    func createPredictionSet(_ input: Operations.createPredictionSet.Input) async throws
        -> Operations.createPredictionSet.Output
    {
        try await cafa.createPredictionSet(input)
    }

    func listAnnotationSets(_ input: Operations.listAnnotationSets.Input) async throws
        -> Operations.listAnnotationSets.Output
    {
        try await cafa.listAnnotationSets(input)
    }

    func listPredictionSets(_ input: Operations.listPredictionSets.Input) async throws
        -> Operations.listPredictionSets.Output
    {
        try await cafa.listPredictionSets(input)
    }

    func getAnnotationSet(_ input: Operations.getAnnotationSet.Input) async throws -> Operations.getAnnotationSet.Output
    {
        try await cafa.getAnnotationSet(input)
    }

    func getPredictionSet(_ input: Operations.getPredictionSet.Input) async throws -> Operations.getPredictionSet.Output
    {
        try await cafa.getPredictionSet(input)
    }

    func createEvaluationSet(_ input: Operations.createEvaluationSet.Input) async throws
        -> Operations.createEvaluationSet.Output
    {
        try await cafa.createEvaluationSet(input)
    }

    func listEvaluationSets(_ input: Operations.listEvaluationSets.Input) async throws
        -> Operations.listEvaluationSets.Output
    {
        try await cafa.listEvaluationSets(input)
    }

    func getEvaluationSet(_ input: Operations.getEvaluationSet.Input) async throws -> Operations.getEvaluationSet.Output
    {
        try await cafa.getEvaluationSet(input)
    }

    func createCAFAEvaluation(_ input: Operations.createCAFAEvaluation.Input) async throws
        -> Operations.createCAFAEvaluation.Output
    {
        try await cafa.createCAFAEvaluation(input)
    }

    func listCAFAEvaluations(_ input: Operations.listCAFAEvaluations.Input) async throws
        -> Operations.listCAFAEvaluations.Output
    {
        try await cafa.listCAFAEvaluations(input)
    }

    func getCAFAEvaluation(_ input: Operations.getCAFAEvaluation.Input) async throws
        -> Operations.getCAFAEvaluation.Output
    {
        try await cafa.getCAFAEvaluation(input)
    }

    func exportCAFAEvaluation(_ input: Operations.exportCAFAEvaluation.Input) async throws
        -> Operations.exportCAFAEvaluation.Output
    {
        try await cafa.exportCAFAEvaluation(input)
    }

    // MARK: Jobs

    func createJob(_ input: Operations.createJob.Input) async throws -> Operations.createJob.Output {
        try await jobs.createJob(input)
    }

    func listJobs(_ input: Operations.listJobs.Input) async throws -> Operations.listJobs.Output {
        try await jobs.listJobs(input)
    }

    func getJob(_ input: Operations.getJob.Input) async throws -> Operations.getJob.Output {
        try await jobs.getJob(input)
    }

    func transitionJob(_ input: Operations.transitionJob.Input) async throws -> Operations.transitionJob.Output {
        try await jobs.transitionJob(input)
    }

    func listJobEvents(_ input: Operations.listJobEvents.Input) async throws -> Operations.listJobEvents.Output {
        try await jobs.listJobEvents(input)
    }

    func createExecution(_ input: Operations.createExecution.Input) async throws -> Operations.createExecution.Output {
        try await jobs.createExecution(input)
    }

    func listExecutions(_ input: Operations.listExecutions.Input) async throws -> Operations.listExecutions.Output {
        try await jobs.listExecutions(input)
    }

    func transitionExecution(_ input: Operations.transitionExecution.Input) async throws
        -> Operations.transitionExecution.Output
    {
        try await jobs.transitionExecution(input)
    }

    func appendLogs(_ input: Operations.appendLogs.Input) async throws -> Operations.appendLogs.Output {
        try await jobs.appendLogs(input)
    }

    func listLogs(_ input: Operations.listLogs.Input) async throws -> Operations.listLogs.Output {
        try await jobs.listLogs(input)
    }

    func addTaskResult(_ input: Operations.addTaskResult.Input) async throws -> Operations.addTaskResult.Output {
        try await jobs.addTaskResult(input)
    }

    func listTaskResults(_ input: Operations.listTaskResults.Input) async throws -> Operations.listTaskResults.Output {
        try await jobs.listTaskResults(input)
    }

    func addJobOutput(_ input: Operations.addJobOutput.Input) async throws -> Operations.addJobOutput.Output {
        try await jobs.addJobOutput(input)
    }

    func addJobComment(_ input: Operations.addJobComment.Input) async throws -> Operations.addJobComment.Output {
        try await jobs.addJobComment(input)
    }

    func listJobComments(_ input: Operations.listJobComments.Input) async throws -> Operations.listJobComments.Output {
        try await jobs.listJobComments(input)
    }

    func listAllJobs(_ input: Operations.listAllJobs.Input) async throws -> Operations.listAllJobs.Output {
        try await jobs.listAllJobs(input)
    }

    // MARK: Tasks

    func createTaskDefinition(_ input: Operations.createTaskDefinition.Input) async throws
        -> Operations.createTaskDefinition.Output
    {
        try await tasks.createTaskDefinition(input)
    }

    func listTaskDefinitions(_ input: Operations.listTaskDefinitions.Input) async throws
        -> Operations.listTaskDefinitions.Output
    {
        try await tasks.listTaskDefinitions(input)
    }

    func getTaskDefinition(_ input: Operations.getTaskDefinition.Input) async throws
        -> Operations.getTaskDefinition.Output
    {
        try await tasks.getTaskDefinition(input)
    }

    func activateTaskDefinition(_ input: Operations.activateTaskDefinition.Input) async throws
        -> Operations.activateTaskDefinition.Output
    {
        try await tasks.activateTaskDefinition(input)
    }

    func deactivateTaskDefinition(_ input: Operations.deactivateTaskDefinition.Input) async throws
        -> Operations.deactivateTaskDefinition.Output
    {
        try await tasks.deactivateTaskDefinition(input)
    }

    func registerTaskService(_ input: Operations.registerTaskService.Input) async throws
        -> Operations.registerTaskService.Output
    {
        try await tasks.registerTaskService(input)
    }

    func listTaskServices(_ input: Operations.listTaskServices.Input) async throws -> Operations.listTaskServices.Output
    {
        try await tasks.listTaskServices(input)
    }

    func removeTaskService(_ input: Operations.removeTaskService.Input) async throws
        -> Operations.removeTaskService.Output
    {
        try await tasks.removeTaskService(input)
    }

    // MARK: Pipelines

    func createPipelineTemplate(_ input: Operations.createPipelineTemplate.Input) async throws
        -> Operations.createPipelineTemplate.Output
    {
        try await pipelines.createPipelineTemplate(input)
    }

    func listPipelineTemplates(_ input: Operations.listPipelineTemplates.Input) async throws
        -> Operations.listPipelineTemplates.Output
    {
        try await pipelines.listPipelineTemplates(input)
    }

    func getPipelineTemplate(_ input: Operations.getPipelineTemplate.Input) async throws
        -> Operations.getPipelineTemplate.Output
    {
        try await pipelines.getPipelineTemplate(input)
    }

    func createPipeline(_ input: Operations.createPipeline.Input) async throws -> Operations.createPipeline.Output {
        try await pipelines.createPipeline(input)
    }

    func listPipelines(_ input: Operations.listPipelines.Input) async throws -> Operations.listPipelines.Output {
        try await pipelines.listPipelines(input)
    }

    func deletePipeline(_ input: Operations.deletePipeline.Input) async throws -> Operations.deletePipeline.Output {
        try await pipelines.deletePipeline(input)
    }

    func getPipeline(_ input: Operations.getPipeline.Input) async throws -> Operations.getPipeline.Output {
        try await pipelines.getPipeline(input)
    }

    func createPipelineVersion(_ input: Operations.createPipelineVersion.Input) async throws
        -> Operations.createPipelineVersion.Output
    {
        try await pipelines.createPipelineVersion(input)
    }

    func getPipelineVersion(_ input: Operations.getPipelineVersion.Input) async throws
        -> Operations.getPipelineVersion.Output
    {
        try await pipelines.getPipelineVersion(input)
    }

    func updatePipelineVersion(_ input: Operations.updatePipelineVersion.Input) async throws
        -> Operations.updatePipelineVersion.Output
    {
        try await pipelines.updatePipelineVersion(input)
    }

    func publishPipelineVersion(_ input: Operations.publishPipelineVersion.Input) async throws
        -> Operations.publishPipelineVersion.Output
    {
        try await pipelines.publishPipelineVersion(input)
    }

    // MARK: AuditLogs

    func listAuditLogs(_ input: Operations.listAuditLogs.Input) async throws -> Operations.listAuditLogs.Output {
        try await auditLogs.listAuditLogs(input)
    }

    func listAllAuditLogs(_ input: Operations.listAllAuditLogs.Input) async throws -> Operations.listAllAuditLogs.Output
    {
        try await auditLogs.listAllAuditLogs(input)
    }

    func verifyAuditLogs(_ input: Operations.verifyAuditLogs.Input) async throws -> Operations.verifyAuditLogs.Output {
        try await auditLogs.verifyAuditLogs(input)
    }

    func exportAuditLogs(_ input: Operations.exportAuditLogs.Input) async throws -> Operations.exportAuditLogs.Output {
        try await auditLogs.exportAuditLogs(input)
    }

    // MARK: Identity providers

    func createIdentityProvider(_ input: Operations.createIdentityProvider.Input) async throws
        -> Operations.createIdentityProvider.Output
    {
        try await identityProviders.createIdentityProvider(input)
    }

    func listIdentityProviders(_ input: Operations.listIdentityProviders.Input) async throws
        -> Operations.listIdentityProviders.Output
    {
        try await identityProviders.listIdentityProviders(input)
    }

    func deleteIdentityProvider(_ input: Operations.deleteIdentityProvider.Input) async throws
        -> Operations.deleteIdentityProvider.Output
    {
        try await identityProviders.deleteIdentityProvider(input)
    }

    func startOIDCSignIn(_ input: Operations.startOIDCSignIn.Input) async throws -> Operations.startOIDCSignIn.Output {
        try await identityProviders.startOIDCSignIn(input)
    }

    func linkOIDCIdentity(_ input: Operations.linkOIDCIdentity.Input) async throws -> Operations.linkOIDCIdentity.Output
    {
        try await identityProviders.linkOIDCIdentity(input)
    }

    func finishOIDCSignIn(_ input: Operations.finishOIDCSignIn.Input) async throws -> Operations.finishOIDCSignIn.Output
    {
        try await identityProviders.finishOIDCSignIn(input)
    }

    // MARK: Artifacts

    func listArtifacts(_ input: Operations.listArtifacts.Input) async throws -> Operations.listArtifacts.Output {
        try await artifacts.listArtifacts(input)
    }

    func createArtifact(_ input: Operations.createArtifact.Input) async throws -> Operations.createArtifact.Output {
        try await artifacts.createArtifact(input)
    }

    func getArtifact(_ input: Operations.getArtifact.Input) async throws -> Operations.getArtifact.Output {
        try await artifacts.getArtifact(input)
    }

    func downloadArtifact(_ input: Operations.downloadArtifact.Input) async throws
        -> Operations.downloadArtifact.Output
    {
        try await artifacts.downloadArtifact(input)
    }

    func deleteArtifact(_ input: Operations.deleteArtifact.Input) async throws -> Operations.deleteArtifact.Output {
        try await artifacts.deleteArtifact(input)
    }

    func createArtifactLink(_ input: Operations.createArtifactLink.Input) async throws
        -> Operations.createArtifactLink.Output
    {
        try await artifacts.createArtifactLink(input)
    }

    func downloadArtifactByLink(_ input: Operations.downloadArtifactByLink.Input) async throws
        -> Operations.downloadArtifactByLink.Output
    {
        try await artifacts.downloadArtifactByLink(input)
    }

    func reportTaskResult(_ input: Operations.reportTaskResult.Input) async throws
        -> Operations.reportTaskResult.Output
    {
        try await jobs.reportTaskResult(input)
    }

    func listDockingResults(_ input: Operations.listDockingResults.Input) async throws
        -> Operations.listDockingResults.Output
    {
        try await jobs.listDockingResults(input)
    }

    func createTaskArtifact(_ input: Operations.createTaskArtifact.Input) async throws
        -> Operations.createTaskArtifact.Output
    {
        try await artifacts.createTaskArtifact(input)
    }

    // MARK: Molecules

    func listMolecules(_ input: Operations.listMolecules.Input) async throws -> Operations.listMolecules.Output {
        try await molecules.listMolecules(input)
    }

    func createMolecule(_ input: Operations.createMolecule.Input) async throws -> Operations.createMolecule.Output {
        try await molecules.createMolecule(input)
    }

    func getMolecule(_ input: Operations.getMolecule.Input) async throws -> Operations.getMolecule.Output {
        try await molecules.getMolecule(input)
    }

    func deleteMolecule(_ input: Operations.deleteMolecule.Input) async throws -> Operations.deleteMolecule.Output {
        try await molecules.deleteMolecule(input)
    }

    // MARK: Proteins

    func createQuerySet(_ input: Operations.createQuerySet.Input) async throws -> Operations.createQuerySet.Output {
        try await proteins.createQuerySet(input)
    }

    func listQuerySets(_ input: Operations.listQuerySets.Input) async throws -> Operations.listQuerySets.Output {
        try await proteins.listQuerySets(input)
    }

    func getQuerySet(_ input: Operations.getQuerySet.Input) async throws -> Operations.getQuerySet.Output {
        try await proteins.getQuerySet(input)
    }

    func createEmbeddingConfig(_ input: Operations.createEmbeddingConfig.Input) async throws
        -> Operations.createEmbeddingConfig.Output
    {
        try await proteins.createEmbeddingConfig(input)
    }

    func listEmbeddingConfigs(_ input: Operations.listEmbeddingConfigs.Input) async throws
        -> Operations.listEmbeddingConfigs.Output
    {
        try await proteins.listEmbeddingConfigs(input)
    }

    func uploadEmbeddingVectors(_ input: Operations.uploadEmbeddingVectors.Input) async throws
        -> Operations.uploadEmbeddingVectors.Output
    {
        try await proteins.uploadEmbeddingVectors(input)
    }

    /// The proteins' part (recipe, query set, params) then the jobs' (starting the job), each in its controller.
    func createEmbeddingJob(_ input: Operations.createEmbeddingJob.Input) async throws
        -> Operations.createEmbeddingJob.Output
    {
        let (version, params, priority) = try await proteins.embeddingJobParams(input)
        let (job, cached) = try await jobs.start(version, params: params, priority: priority)
        return cached ? .ok(.init(body: .json(job))) : .created(.init(body: .json(job)))
    }

    func createKNNTransfer(_ input: Operations.createKNNTransfer.Input) async throws
        -> Operations.createKNNTransfer.Output
    {
        try await proteins.createKNNTransfer(input)
    }

    // MARK: Evaluation results

    func putInformationAccretion(_ input: Operations.putInformationAccretion.Input) async throws
        -> Operations.putInformationAccretion.Output
    {
        try await cafa.putInformationAccretion(input)
    }

    func getInformationAccretion(_ input: Operations.getInformationAccretion.Input) async throws
        -> Operations.getInformationAccretion.Output
    {
        try await cafa.getInformationAccretion(input)
    }

    func createEvaluationResult(_ input: Operations.createEvaluationResult.Input) async throws
        -> Operations.createEvaluationResult.Output
    {
        try await cafa.createEvaluationResult(input)
    }

    func getEvaluationResult(_ input: Operations.getEvaluationResult.Input) async throws
        -> Operations.getEvaluationResult.Output
    {
        try await cafa.getEvaluationResult(input)
    }

    func createBenchmarkMatrix(_ input: Operations.createBenchmarkMatrix.Input) async throws
        -> Operations.createBenchmarkMatrix.Output
    {
        try await cafa.createBenchmarkMatrix(input)
    }

    func getKNNTransfer(_ input: Operations.getKNNTransfer.Input) async throws -> Operations.getKNNTransfer.Output {
        try await proteins.getKNNTransfer(input)
    }
}
