import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import OpenAPIRuntime
import TesseraCore
import TesseraPostgres

/// The web console at `/console`: HTML pages rendered on the server (swift-mustache) for people who would rather look
/// than type — sign in, my orgs, create an org and watch its provisioning, API keys, the audit log and its
/// verification.
///
/// Server-rendered rather than a script over the JSON API, because then the session stays in an HttpOnly cookie that
/// no script can read, every change is an HTML form with a CSRF token, the pages work without JavaScript (one small
/// script only refreshes provisioning steps), and the Content-Security-Policy needs no `unsafe-inline`.
///
/// Nothing here decides who may do what, or writes: each page runs the JSON API's own operation (`APIHandler`) after
/// the access chain's own steps (`AccessMiddleware.admit`, with the session from the cookie and the rule the contract
/// gives that operation), so validation, permissions, denial records and audited changes are the API's, once.
struct Console: Sendable {
    let api: APIHandler
    let access: AccessMiddleware
    let routes: RouteTable
    let pages: MustacheLibrary
    let assets: [String: ConsoleAsset]
    let security: ConsoleSecurity
    let sessionSeconds: Int

    init(
        api: APIHandler, access: AccessMiddleware, routes: RouteTable, security: ConsoleSecurity, sessionSeconds: Int
    ) throws {
        self.api = api
        self.access = access
        self.routes = routes
        self.security = security
        self.sessionSeconds = sessionSeconds
        (pages, assets) = try Self.loadResources()
    }

    func register(on router: Router<AppRequestContext>) {
        router.get("/console") { request, context in await page(request, context) { try await orgsPage($0) } }
        router.get("/console/login") { request, context in signInPage(error: nil, status: .ok) }
        router.post("/console/login") { request, context in await signIn(request, context) }
        router.get("/console/login/sso") { request, context in await singleSignOn(request, context) }
        router.get("/console/login/oidc/{provider}/start") { request, context in
            await startProviderSignIn(request, context)
        }
        router.get("/console/login/oidc/callback") { request, context in
            await finishProviderSignIn(request, context)
        }
        router.post("/console/logout") { request, context in await page(request, context) { try await signOut($0) } }
        router.post("/console/orgs") { request, context in await page(request, context) { try await createOrg($0) } }
        router.get("/console/orgs/{org}") { request, context in
            await page(request, context) { try await orgPage($0) }
        }
        router.post("/console/orgs/{org}/quotas") { request, context in
            await page(request, context) { try await setQuotas($0) }
        }
        router.get("/console/orgs/{org}/provisioning") { request, context in
            await page(request, context) { try await provisioningJSON($0) }
        }
        router.get("/console/orgs/{org}/keys") { request, context in
            await page(request, context) { try await keysPage($0, created: nil) }
        }
        router.post("/console/orgs/{org}/keys") { request, context in
            await page(request, context) { try await createKey($0) }
        }
        router.post("/console/orgs/{org}/keys/{id}/rotate") { request, context in
            await page(request, context) { try await rotateKey($0) }
        }
        router.post("/console/orgs/{org}/keys/{id}/revoke") { request, context in
            await page(request, context) { try await revokeKey($0) }
        }
        router.get("/console/orgs/{org}/members") { request, context in
            await page(request, context) { try await membersPage($0) }
        }
        router.post("/console/orgs/{org}/members") { request, context in
            await page(request, context) { try await addMember($0) }
        }
        router.post("/console/orgs/{org}/members/{user_id}/roles") { request, context in
            await page(request, context) { try await setMemberRole($0) }
        }
        router.post("/console/orgs/{org}/members/{user_id}/remove") { request, context in
            await page(request, context) { try await removeMember($0) }
        }
        router.get("/console/orgs/{org}/roles") { request, context in
            await page(request, context) { try await rolesPage($0) }
        }
        router.post("/console/orgs/{org}/roles") { request, context in
            await page(request, context) { try await createRole($0) }
        }
        router.post("/console/orgs/{org}/roles/{id}/delete") { request, context in
            await page(request, context) { try await deleteRole($0) }
        }
        router.get("/console/orgs/{org}/datasets") { request, context in
            await page(request, context) { try await datasetsPage($0) }
        }
        router.get("/console/orgs/{org}/datasets/{id}/leaderboard") { request, context in
            await page(request, context) { try await leaderboardPage($0) }
        }
        router.get("/console/orgs/{org}/runs") { request, context in
            await page(request, context) { try await runsPage($0) }
        }
        router.get("/console/orgs/{org}/cafa") { request, context in
            await page(request, context) { try await cafaListPage($0) }
        }
        router.get("/console/orgs/{org}/cafa/{id}") { request, context in
            await page(request, context) { try await cafaPage($0) }
        }
        router.get("/console/orgs/{org}/audit/export") { request, context in
            await page(request, context) { try await auditExport($0) }
        }
        router.get("/console/orgs/{org}/audit") { request, context in
            await page(request, context) { try await auditPage($0) }
        }
        router.get("/console/static/{file}") { request, context in asset(context.parameters.get("file") ?? "") }
    }

    // MARK: - Pages

    func orgsPage(_ call: ConsoleCall) async throws -> Response {
        let whoami = try await call.run(route: "/v1/auth/whoami", method: .get) {
            try await api.whoami(.init()).ok.body.json
        }
        var orgs: [[String: Any]] = []
        for grant in whoami.orgs {
            let org = try await call.run(route: nil, method: .get) { try await api.orgs.existingOrg(grant.org_id) }
            orgs.append(Self.org(org, permissions: grant.permissions))
        }
        return call.render(
            "orgs",
            [
                "title": "Organizations", "orgs": orgs, "none": orgs.isEmpty,
                "platform_admin": whoami.platform_admin,
            ])
    }

    func createOrg(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        guard let name = form.text("name") else { throw TesseraError.unprocessable("an organization needs a name") }
        let created = try await call.run(route: "/v1/orgs", method: .post) {
            try await api.createOrg(.init(body: .json(.init(name: name, slug: form.text("slug"))))).accepted.body.json
        }
        return call.redirect("/console/orgs/\(created.org.id)")
    }

    func orgPage(_ call: ConsoleCall) async throws -> Response {
        let (org, permissions) = try await call.member()
        let (steps, platformAdmin) = try await call.run(route: nil, method: .get) {
            (try await api.orgs.provisioning(of: org), RequestScope.principal?.isPlatformAdmin == true)
        }
        return call.render(
            "org",
            Self.org(org, permissions: permissions).merging([
                "title": org.name, "steps": steps.steps.map(Self.step), "ready": org.status == .ready,
                "keys": permissions.contains(Permission.keysManage.rawValue),
                "members": permissions.contains(Permission.membersManage.rawValue),
                "roles": permissions.contains(Permission.rolesManage.rawValue),
                "quotas": Quota.allCases.map { quota in
                    [
                        "quota": quota.rawValue, "limit": org.quotas[quota].map(String.init) ?? "no limit",
                        "value": org.quotas[quota].map(String.init) ?? "",
                    ]
                },
                "platform_admin": platformAdmin,
                "cafa": permissions.contains(Permission.evaluationsRead.rawValue),
                "predictions": permissions.contains(Permission.predictionsRead.rawValue),
                "audit": permissions.contains(Permission.auditRead.rawValue),
            ]) { $1 })
    }

    /// A platform admin replaces the org's quotas: each field a whole number, or empty for no limit.
    func setQuotas(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        let org = try call.org()
        var limits: [Quota: Int] = [:]
        for quota in Quota.allCases {
            guard let text = form.text(quota.rawValue) else { continue }
            guard let limit = Int(text), limit >= 0 else {
                throw TesseraError.unprocessable("the \(quota.rawValue) quota is a whole number, 0 or more, or empty")
            }
            limits[quota] = limit
        }
        _ = try await call.run(route: "/v1/orgs/{org}/quotas", method: .put) {
            try await api.setOrgQuotas(
                .init(
                    path: .init(org: org),
                    body: .json(
                        .init(
                            members: limits[.members], api_keys: limits[.apiKeys], dataset_rows: limits[.datasetRows],
                            artifact_bytes: limits[.artifactBytes].map(Int64.init),
                            concurrent_runs: limits[.concurrentRuns])))
            ).ok
        }
        return call.redirect("/console/orgs/\(org)")
    }

    /// The provisioning journal as JSON for the org page's script (the same shape as the API's).
    func provisioningJSON(_ call: ConsoleCall) async throws -> Response {
        let (org, _) = try await call.member()
        let journal = try await call.run(route: nil, method: .get) { try await api.orgs.provisioning(of: org) }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var response = Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(journal))))
        ConsoleSecurity.harden(&response.headers)
        return response
    }

    func keysPage(_ call: ConsoleCall, created: Components.Schemas.IssuedAPIKey?) async throws -> Response {
        let org = try call.org()
        let list = try await call.run(route: "/v1/orgs/{org}/api-keys", method: .get) {
            try await api.listAPIKeys(.init(path: .init(org: org), query: .init(limit: 100))).ok.body.json
        }
        let keys: [[String: Any]] = list.items.map { key in
            [
                "id": key.id, "name": key.name, "prefix": key.prefix, "role": key.role, "status": key.status.rawValue,
                "active": key.status.rawValue == "active", "created_at": Self.date(key.created_at),
                "last_used_at": key.last_used_at.map(Self.date) ?? "never",
            ]
        }
        var values: [String: Any] = [
            "title": "API keys", "org_id": org, "keys": keys, "none": keys.isEmpty,
            "roles": SystemRole.allCases.map { ["role": $0.rawValue, "selected": $0 == .viewer] },
        ]
        if let created {
            values["created"] = ["key": created.key, "name": created.api_key.name, "role": created.api_key.role]
        }
        return call.render("keys", values, status: created == nil ? .ok : .created)
    }

    func createKey(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        let org = try call.org()
        guard let name = form.text("name"), let role = form.text("role") else {
            throw TesseraError.unprocessable("a key needs a name and a role")
        }
        let issued = try await call.run(route: "/v1/orgs/{org}/api-keys", method: .post) {
            try await api.createAPIKey(.init(path: .init(org: org), body: .json(.init(name: name, role: role))))
                .created.body.json
        }
        // Shown in this answer only: the list it is part of, reloaded, shows its prefix.
        return try await keysPage(call, created: issued)
    }

    /// A new key in place of a live one (same name and role), shown once; the old one keeps working for the grace
    /// period chosen (0: it stops now).
    func rotateKey(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        let org = try call.org()
        let id = call.context.parameters.get("id") ?? ""
        let grace = try form.text("grace_seconds").map {
            try Int($0).orBadRequest("the grace period is a whole number of seconds")
        }
        let issued = try await call.run(route: "/v1/orgs/{org}/api-keys/{id}/rotate", method: .post) {
            try await api.rotateAPIKey(.init(path: .init(org: org, id: id), body: .json(.init(grace_seconds: grace))))
                .created.body.json
        }
        return try await keysPage(call, created: issued)
    }

    func revokeKey(_ call: ConsoleCall) async throws -> Response {
        _ = try await call.form()
        let org = try call.org()
        let id = call.context.parameters.get("id") ?? ""
        _ = try await call.run(route: "/v1/orgs/{org}/api-keys/{id}", method: .delete) {
            try await api.revokeAPIKey(.init(path: .init(org: org, id: id))).ok
        }
        return call.redirect("/console/orgs/\(org)/keys")
    }

    func membersPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        // The org's own roles are offered beside the system ones to whoever may read them (`roles.manage`); the
        // API still refuses a role that grants more than the giver holds.
        let (list, readsRoles) = try await call.run(route: "/v1/orgs/{org}/members", method: .get) {
            (
                try await api.listMembers(.init(path: .init(org: org))).ok.body.json,
                RequestScope.principal?.permissions(in: try Tenant.required().orgID)?.contains(.rolesManage) == true
            )
        }
        var names = SystemRole.allCases.map(\.rawValue)
        if readsRoles {
            let roles = try await call.run(route: "/v1/orgs/{org}/roles", method: .get) {
                try await api.listRoles(.init(path: .init(org: org))).ok.body.json
            }
            names += roles.items.filter { !$0.system }.map(\.name).sorted()
        }
        let members: [[String: Any]] = list.items.map { member in
            [
                "user_id": member.user_id, "email": member.email, "name": member.display_name ?? "",
                "status": member.status, "roles": member.roles.joined(separator: ", "),
                "since": Self.date(member.created_at),
                "choices": names.map { ["role": $0, "selected": member.roles == [$0]] },
            ]
        }
        return call.render(
            "members",
            [
                "title": "Members", "org_id": org, "members": members,
                "roles": names.map { ["role": $0, "selected": $0 == SystemRole.viewer.rawValue] },
            ])
    }

    /// Adds a member by email with one role: someone without an account is invited (the mail carries the token).
    func addMember(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        let org = try call.org()
        guard let email = form.text("email"), let role = form.text("role") else {
            throw TesseraError.unprocessable("a member needs an email address and a role")
        }
        _ = try await call.run(route: "/v1/orgs/{org}/members", method: .post) {
            try await api.addMember(.init(path: .init(org: org), body: .json(.init(email: email, roles: [role]))))
                .created
        }
        return call.redirect("/console/orgs/\(org)/members")
    }

    func setMemberRole(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        let org = try call.org()
        let user = call.context.parameters.get("user_id") ?? ""
        guard let role = form.text("role") else { throw TesseraError.unprocessable("choose a role") }
        _ = try await call.run(route: "/v1/orgs/{org}/members/{user_id}", method: .put) {
            try await api.setMemberRoles(
                .init(path: .init(org: org, user_id: user), body: .json(.init(roles: [role])))
            ).ok
        }
        return call.redirect("/console/orgs/\(org)/members")
    }

    func removeMember(_ call: ConsoleCall) async throws -> Response {
        _ = try await call.form()
        let org = try call.org()
        let user = call.context.parameters.get("user_id") ?? ""
        _ = try await call.run(route: "/v1/orgs/{org}/members/{user_id}", method: .delete) {
            try await api.removeMember(.init(path: .init(org: org, user_id: user))).noContent
        }
        return call.redirect("/console/orgs/\(org)/members")
    }

    /// The org's roles: the five system ones and its own, made from permissions.
    func rolesPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let list = try await call.run(route: "/v1/orgs/{org}/roles", method: .get) {
            try await api.listRoles(.init(path: .init(org: org))).ok.body.json
        }
        let roles: [[String: Any]] = list.items.map { role in
            [
                "id": role.id, "name": role.name, "description": role.description ?? "", "system": role.system,
                "permissions": role.permissions.sorted().joined(separator: ", "),
            ]
        }
        return call.render(
            "roles",
            [
                "title": "Roles", "org_id": org, "roles": roles,
                "permissions": Permission.allCases.map { ["permission": $0.rawValue] },
            ])
    }

    func createRole(_ call: ConsoleCall) async throws -> Response {
        let form = try await call.form()
        let org = try call.org()
        guard let name = form.text("name") else { throw TesseraError.unprocessable("a role needs a name") }
        let permissions = form.all("permission")
        _ = try await call.run(route: "/v1/orgs/{org}/roles", method: .post) {
            try await api.createRole(
                .init(
                    path: .init(org: org),
                    body: .json(.init(name: name, description: form.text("description"), permissions: permissions)))
            ).created
        }
        return call.redirect("/console/orgs/\(org)/roles")
    }

    func deleteRole(_ call: ConsoleCall) async throws -> Response {
        _ = try await call.form()
        let org = try call.org()
        let id = call.context.parameters.get("id") ?? ""
        _ = try await call.run(route: "/v1/orgs/{org}/roles/{id}", method: .delete) {
            try await api.deleteRole(.init(path: .init(org: org, id: id))).noContent
        }
        return call.redirect("/console/orgs/\(org)/roles")
    }

    func datasetsPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let list = try await call.run(route: "/v1/orgs/{org}/datasets", method: .get) {
            try await api.listDatasets(.init(path: .init(org: org), query: .init(limit: 100))).ok.body.json
        }
        let datasets: [[String: Any]] = list.items.map { dataset in
            [
                "id": dataset.id, "name": dataset.name, "description": dataset.description ?? "",
                "rows": String(dataset.row_count), "created_at": Self.date(dataset.created_at),
            ]
        }
        return call.render(
            "datasets", ["title": "Datasets", "org_id": org, "datasets": datasets, "none": datasets.isEmpty])
    }

    /// A dataset's runs ranked by one metric of their latest evaluation.
    func leaderboardPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let id = call.context.parameters.get("id") ?? ""
        typealias Metric = Operations.getLeaderboard.Input.Query.metricPayload
        let metric = call.filter("metric").flatMap(Metric.init(rawValue:)) ?? .accuracy
        let board = try await call.run(route: "/v1/orgs/{org}/datasets/{id}/leaderboard", method: .get) {
            try await api.getLeaderboard(.init(path: .init(org: org, id: id), query: .init(metric: metric, limit: 100)))
                .ok.body.json
        }
        let entries: [[String: Any]] = board.items.map { entry in
            [
                "rank": String(entry.rank), "model": entry.model.name, "prompt": entry.prompt.name,
                "value": entry.value.map { ConsoleChart.format($0, digits: 4) } ?? "–",
                "coverage": ConsoleChart.format(entry.coverage, digits: 3), "run_id": entry.run_id,
                "evaluated_at": Self.date(entry.evaluated_at),
            ]
        }
        return call.render(
            "leaderboard",
            [
                "title": "Leaderboard", "org_id": org, "dataset_id": id, "metric": metric.rawValue, "entries": entries,
                "none": entries.isEmpty,
                "metrics": Metric.allCases.map { ["value": $0.rawValue, "selected": $0 == metric] },
            ])
    }

    /// Runs with their progress: items done, failed, in progress and pending of the total.
    func runsPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let list = try await call.run(route: "/v1/orgs/{org}/runs", method: .get) {
            try await api.listRuns(.init(path: .init(org: org), query: .init(limit: 100))).ok.body.json
        }
        let runs: [[String: Any]] = list.items.map { run in
            [
                "id": run.id, "status": run.status.rawValue, "total": String(run.total), "done": String(run.done),
                "failed": String(run.failed), "in_progress": String(run.in_progress), "pending": String(run.pending),
                "finished": String(run.done + run.failed), "dataset_id": run.dataset_id,
                "created_at": Self.date(run.created_at),
            ]
        }
        return call.render("runs", ["title": "Runs", "org_id": org, "runs": runs, "none": runs.isEmpty])
    }

    func cafaListPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let list = try await call.run(route: "/v1/orgs/{org}/cafa-evaluations", method: .get) {
            try await api.listCAFAEvaluations(.init(path: .init(org: org), query: .init(limit: 100))).ok.body.json
        }
        let evaluations: [[String: Any]] = list.items.map { evaluation in
            [
                "id": evaluation.id, "created_at": Self.date(evaluation.created_at),
                "category": evaluation.category?.rawValue ?? "", "step": ConsoleChart.format(evaluation.threshold_step),
                "fmax": evaluation.namespaces.map { namespace in
                    "\(namespace.namespace) \(namespace.best.f.map { ConsoleChart.format($0.value, digits: 3) } ?? "–")"
                }.joined(separator: ", "),
            ]
        }
        return call.render(
            "cafa-list",
            ["title": "CAFA evaluations", "org_id": org, "evaluations": evaluations, "none": evaluations.isEmpty])
    }

    /// One CAFA evaluation: per namespace its targets, Fmax (with τ, precision, recall) and S-min, and the
    /// precision–recall curves drawn, Fmax marked.
    func cafaPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let id = call.context.parameters.get("id") ?? ""
        let evaluation = try await call.run(route: "/v1/orgs/{org}/cafa-evaluations/{id}", method: .get) {
            try await api.getCAFAEvaluation(.init(path: .init(org: org, id: id))).ok.body.json
        }
        let series = evaluation.namespaces.map { namespace in
            ConsoleChart.Series(
                name: namespace.namespace, recall: namespace.curves?.rc ?? [], precision: namespace.curves?.pr ?? [],
                best: namespace.best.f.map { ($0.value, $0.rc, $0.pr) })
        }
        let rows: [[String: Any]] = evaluation.namespaces.map { namespace in
            [
                "namespace": namespace.namespace, "targets": String(namespace.targets),
                "predicted": String(namespace.predicted_targets),
                "fmax": namespace.best.f.map { ConsoleChart.format($0.value, digits: 3) } ?? "–",
                "tau": namespace.best.f.map { ConsoleChart.format($0.tau) } ?? "–",
                "pr": namespace.best.f.map { ConsoleChart.format($0.pr, digits: 3) } ?? "–",
                "rc": namespace.best.f.map { ConsoleChart.format($0.rc, digits: 3) } ?? "–",
                "smin": namespace.best.s.map { ConsoleChart.format($0.value, digits: 3) } ?? "–",
            ]
        }
        var values: [String: Any] = [
            "title": "CAFA evaluation", "org_id": org, "id": evaluation.id, "rows": rows,
            "created_at": Self.date(evaluation.created_at), "normalization": evaluation.normalization.rawValue,
            "step": ConsoleChart.format(evaluation.threshold_step),
            "chart": ConsoleChart.precisionRecall(series, title: "Precision–recall by namespace, Fmax marked"),
        ]
        if let category = evaluation.category { values["category"] = category.rawValue }
        return call.render("cafa", values)
    }

    /// The records the audit page's filters match, all of them, streamed as a CSV or NDJSON download.
    func auditExport(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let filter = call.filter
        let format = filter("format").flatMap(Components.Parameters.ExportFormat.init(rawValue:)) ?? .csv
        let output = try await call.run(route: "/v1/orgs/{org}/audit-logs/export", method: .get) {
            try await api.exportAuditLogs(
                .init(
                    path: .init(org: org),
                    query: .init(
                        actor: filter("actor"), action: filter("action"),
                        outcome: filter("outcome").flatMap(Components.Parameters.AuditOutcome.init(rawValue:)),
                        format: format))
            ).ok.body
        }
        let (body, type) =
            switch output {
            case .csv(let body): (body, "text/csv; charset=utf-8")
            case .application_x_hyphen_ndjson(let body): (body, "application/x-ndjson")
            }
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = type
        head.headerFields[.contentDisposition] = "attachment; filename=\"audit-\(org).\(format.rawValue)\""
        var response = try await OpenAPITransport.response(head, body: body)
        ConsoleSecurity.harden(&response.headers)
        return response
    }

    func auditPage(_ call: ConsoleCall) async throws -> Response {
        let org = try call.org()
        let filter = call.filter
        let outcome = filter("outcome").flatMap(Components.Parameters.AuditOutcome.init(rawValue:))
        let list = try await call.run(route: "/v1/orgs/{org}/audit-logs", method: .get) {
            try await api.listAuditLogs(
                .init(
                    path: .init(org: org),
                    query: .init(
                        actor: filter("actor"), action: filter("action"), outcome: outcome, limit: 50,
                        cursor: filter("cursor")))
            ).ok.body.json
        }
        var values: [String: Any] = [
            "title": "Audit log", "org_id": org,
            "records": list.items.map { record -> [String: Any] in
                [
                    "seq": String(record.seq), "occurred_at": Self.date(record.occurred_at),
                    "actor": record.actor_display ?? record.actor_id ?? record.actor_kind.rawValue,
                    "action": record.action,
                    "entity": [record.entity_type, record.entity_id].compactMap { $0 }.joined(separator: " "),
                    "outcome": record.outcome.rawValue,
                ]
            },
            "none": list.items.isEmpty, "actor": filter("actor") ?? "", "action": filter("action") ?? "",
            "outcomes": ([""] + Components.Parameters.AuditOutcome.allCases.map(\.rawValue)).map { value in
                [
                    "value": value, "label": value.isEmpty ? "any" : value,
                    "selected": value == (filter("outcome") ?? ""),
                ]
            },
        ]
        if let next = list.next_cursor {
            var components = URLComponents()
            components.queryItems = [
                URLQueryItem(name: "actor", value: filter("actor") ?? ""),
                URLQueryItem(name: "action", value: filter("action") ?? ""),
                URLQueryItem(name: "outcome", value: filter("outcome") ?? ""),
                URLQueryItem(name: "cursor", value: next),
            ]
            values["next"] = "/console/orgs/\(org)/audit?" + (components.percentEncodedQuery ?? "")
        }
        var exportQuery = URLComponents()
        exportQuery.queryItems = ["actor", "action", "outcome"].compactMap { name in
            filter(name).map { URLQueryItem(name: name, value: $0) }
        }
        let exportBase = "/console/orgs/\(org)/audit/export?" + (exportQuery.percentEncodedQuery.map { $0 + "&" } ?? "")
        values["export_csv"] = exportBase + "format=csv"
        values["export_ndjson"] = exportBase + "format=ndjson"
        if filter("verify") != nil {
            let verdict = try await call.run(route: "/v1/orgs/{org}/audit-logs/verify", method: .get) {
                try await api.verifyAuditLogs(.init(path: .init(org: org))).ok.body.json
            }
            values["verdict"] = [
                "intact": verdict.intact, "verified": String(verdict.verified),
                "broken_seq": verdict.broken_seq.map(String.init) ?? "", "reason": verdict.reason ?? "",
            ]
        }
        return call.render("audit", values)
    }

    // MARK: - Signing in and out

    // MARK: - Plumbing

    /// Runs a page for the holder of the session cookie: to the sign-in page when there is none or it is no longer
    /// valid; a refusal or a failure becomes an error page with the API's status and detail.
    func page(
        _ request: Request, _ context: AppRequestContext, _ body: (ConsoleCall) async throws -> Response
    ) async -> Response {
        guard let session = ConsoleSecurity.cookie(ConsoleSecurity.sessionCookie, in: request), !session.isEmpty
        else { return redirect("/console/login") }
        let call = ConsoleCall(console: self, request: request, context: context, session: session)
        do {
            return try await body(call)
        } catch let error as TesseraError where error.statusCode == 401 {
            var response = redirect("/console/login")
            response.headers[.setCookie] = security.cookie(ConsoleSecurity.sessionCookie, "", maxAge: 0)
            return response
        } catch {
            let problem = Self.problem(error)
            return call.render(
                "error",
                ["title": problem.title, "status": String(problem.status.code), "detail": problem.detail],
                status: problem.status)
        }
    }

    /// The status, title and detail a failure shows (the API's, for a refusal; a generic one otherwise, logged).
    static func problem(_ error: any Error) -> (status: HTTPResponse.Status, title: String, detail: String) {
        let refusal = (error as? TesseraError) ?? ((error as? ServerError)?.underlyingError as? TesseraError)
        guard let refusal else {
            return (.internalServerError, "Something went wrong", "The request failed; it has been logged.")
        }
        let detail = ([refusal.detail] + (refusal.problems ?? [])).joined(separator: "; ")
        return (HTTPResponse.Status(code: refusal.statusCode), refusal.title, detail)
    }

    func html(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let text = pages.render(values, withTemplate: template) ?? "template \(template) missing"
        var response = Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
        ConsoleSecurity.harden(&response.headers)
        return response
    }

    func redirect(_ location: String) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location])
        ConsoleSecurity.harden(&response.headers)
        return response
    }

    func asset(_ name: String) -> Response {
        guard let asset = assets[name] else { return Response(status: .notFound) }
        var response = Response(
            status: .ok, headers: [.contentType: asset.contentType], body: .init(byteBuffer: asset.body))
        ConsoleSecurity.harden(&response.headers)
        response.headers[.cacheControl] = "public, max-age=300"
        return response
    }

    static func org(_ org: OrgRecord, permissions: [String]) -> [String: Any] {
        [
            "id": org.id.uuidString.lowercased(), "name": org.name, "slug": org.slug, "status": org.status.rawValue,
            "status_reason": org.statusReason ?? "", "created_at": date(org.createdAt),
            "permissions": permissions.sorted().joined(separator: ", "),
        ]
    }

    static func step(_ step: Components.Schemas.Provisioning.stepsPayloadPayload) -> [String: Any] {
        [
            "step": step.step, "summary": step.summary, "status": step.status.rawValue,
            "attempts": String(step.attempts), "error": step.error ?? "",
        ]
    }

    /// `2026-12-01 16:50:07 UTC`.
    static func date(_ date: Date) -> String {
        let text = InternetDate.string(seconds: Int(date.timeIntervalSince1970.rounded(.down))) ?? "\(date)"
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    static func loadResources() throws -> (MustacheLibrary, [String: ConsoleAsset]) {
        guard let root = Bundle.module.resourceURL else {
            throw TesseraError.unavailable("the console's files are missing from the gateway's resources")
        }
        let files = FileManager.default
        var templates: [String: MustacheTemplate] = [:]
        let templateFolder = root.appendingPathComponent("templates")
        for name in try files.contentsOfDirectory(atPath: templateFolder.path) where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: templateFolder.appendingPathComponent(name), encoding: .utf8)
            templates[String(name.dropLast(".mustache".count))] = try MustacheTemplate(string: text)
        }
        var assets: [String: ConsoleAsset] = [:]
        let staticFolder = root.appendingPathComponent("static")
        for name in try files.contentsOfDirectory(atPath: staticFolder.path) {
            let type =
                name.hasSuffix(".css")
                ? "text/css; charset=utf-8" : name.hasSuffix(".js") ? "text/javascript; charset=utf-8" : "text/plain"
            let data = try Data(contentsOf: staticFolder.appendingPathComponent(name))
            assets[name] = ConsoleAsset(contentType: type, body: ByteBuffer(data: data))
        }
        return (MustacheLibrary(templates: templates), assets)
    }
}

struct ConsoleAsset: Sendable {
    let contentType: String
    let body: ByteBuffer
}

/// One console request of a signed-in person: runs API operations as them, renders pages with their CSRF token.
struct ConsoleCall: Sendable {
    let console: Console
    let request: Request
    let context: AppRequestContext
    let session: String

    /// Runs `body` as the API's operation at `route` (a contract path template) with `method` would run: the access
    /// chain's steps for its rule (authentication from the session cookie, the `{org}` of this page, the
    /// permission), then `body` with that scope. A nil `route` authenticates only (for what the console shows
    /// members of an org that the API keeps for platform admins: its status and provisioning steps, checked by
    /// `member()`).
    func run<T: Sendable>(route: String?, method: HTTPRequest.Method, _ body: () async throws -> T) async throws -> T {
        var head = request.head
        head.headerFields[.authorization] = "Bearer \(session)"
        // The chain reads the head only; the body stays this page's (`form()`).
        let authenticated = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let rule = route.flatMap { console.routes.rule(endpoint: $0, method: method.rawValue) } ?? .authenticated
        let scope = try await console.access.admit(
            authenticated, org: context.parameters.get("org"), rule: rule,
            scope: console.access.scope(request, context: context))
        do {
            return try await RequestScope.$current.withValue(scope) { try await body() }
        } catch {
            if let principal = scope.principal {
                await console.access.recordRefusal(
                    error, principal: principal, scope: scope, requested: context.parameters.get("org"), rule: rule,
                    request: request)
            }
            throw error
        }
    }

    /// A query parameter of the page; nil when missing or empty.
    func filter(_ name: String) -> String? {
        request.uri.queryParameters[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The page's `{org}`, as the API takes it.
    func org() throws -> String {
        guard let org = context.parameters.get("org") else { throw TesseraError.notFound("no such organization") }
        return org
    }

    /// The page's org and the signed-in person's permissions in it: a platform admin's are all of them; the person
    /// who created it (self-service) has none until provisioning makes them its owner, but may watch it get there.
    /// 404 for anyone else, as the API answers, whether or not the org exists.
    func member() async throws -> (OrgRecord, [String]) {
        let raw = try org()
        return try await run(route: nil, method: .get) {
            guard let principal = RequestScope.principal, let id = UUID(uuidString: raw) else {
                throw TesseraError.notFound("no such organization")
            }
            let org = try await console.api.orgs.existingOrg(raw)
            if let granted = principal.permissions(in: id) { return (org, granted.map(\.rawValue)) }
            if case .user(let user, _) = principal.kind, org.ownerUserID == user { return (org, []) }
            throw TesseraError.notFound("no such organization")
        }
    }

    /// The form of a POST, its CSRF token checked (403 when it is not this session's).
    func form() async throws -> ConsoleForm {
        let form = try await ConsoleForm(request)
        guard console.security.checks(form["csrf"], session: session) else {
            throw TesseraError.forbidden("the form's security token is not this session's: reload the page")
        }
        return form
    }

    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var values = values
        values["csrf"] = console.security.csrf(for: session)
        values["signed_in"] = true
        return console.html(template, values, status: status)
    }

    func redirect(_ location: String) -> Response { console.redirect(location) }
}
