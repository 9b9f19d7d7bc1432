import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TesseraCore
import TesseraProvisioning

/// Signing in to the console and out: with a password (the API's `login` use case), or through an org's OpenID
/// Connect provider (the API's own sign-in, started for and finished at the console's callback).
///
/// A provider's sign-in comes back from another site, so the session cookie (SameSite=Strict) would not be sent on a
/// redirect that continues that navigation: the callback sets it on a page of its own that then moves on to
/// `/console` (a refresh the console's page starts, which carries it).
extension Console {
    func signInPage(error: String?, status: HTTPResponse.Status) -> Response {
        let token = ConsoleSecurity.randomToken()
        var values: [String: Any] = ["title": "Sign in", "csrf": token]
        if let error { values["error"] = error }
        var response = html("login", values, status: status)
        response.headers[.setCookie] = security.cookie(ConsoleSecurity.signInCookie, token, maxAge: 3600)
        return response
    }

    func signIn(_ request: Request, _ context: AppRequestContext) async -> Response {
        do {
            let form = try await ConsoleForm(request)
            guard let expected = ConsoleSecurity.cookie(ConsoleSecurity.signInCookie, in: request), !expected.isEmpty,
                let presented = form["csrf"],
                constantTimeEquals(Array(expected.utf8), Array(presented.utf8))
            else {
                return signInPage(error: "The form expired; please sign in again.", status: .forbidden)
            }
            let scope = access.scope(request, context: context)
            let session = try await RequestScope.$current.withValue(scope) {
                try await api.login(
                    .init(body: .json(.init(email: form["email"] ?? "", password: form["password"] ?? "")))
                )
                .ok.body.json
            }
            var response = Response(status: .seeOther, headers: [.location: "/console"])
            ConsoleSecurity.harden(&response.headers)
            response.headers[values: .setCookie] = [
                security.cookie(ConsoleSecurity.sessionCookie, session.token, maxAge: sessionSeconds),
                security.cookie(ConsoleSecurity.signInCookie, "", maxAge: 0),
            ]
            return response
        } catch let error as TesseraError where error.statusCode == 401 {
            return signInPage(error: "Wrong email or password.", status: .unauthorized)
        } catch {
            let problem = Self.problem(error)
            return signInPage(error: problem.detail, status: problem.status)
        }
    }

    func signOut(_ call: ConsoleCall) async throws -> Response {
        _ = try await call.form()
        _ = try await call.run(route: "/v1/auth/logout", method: .post) { try await api.logout(.init()) }
        var response = call.redirect("/console/login")
        response.headers[.setCookie] = security.cookie(ConsoleSecurity.sessionCookie, "", maxAge: 0)
        return response
    }

    /// `GET /console/login/sso?org=SLUG`: the providers members of that org sign in with, each a link that starts
    /// its sign-in. Links, not a redirect from the form: the Content-Security-Policy's `form-action 'self'` would
    /// stop a form's navigation on its way to the provider.
    func singleSignOn(_ request: Request, _ context: AppRequestContext) async -> Response {
        // An org's short name is at most 200 characters (longer is no org's, and is not echoed whole).
        let slug = String(
            (request.uri.queryParameters.get("org") ?? "").trimmingCharacters(in: .whitespaces).lowercased().prefix(200)
        )
        do {
            try access.authenticator.checkLimit(access.scope(request, context: context).info)
            let providers = try await api.identityProviders.signIn.providers(orgSlug: slug)
            guard !providers.isEmpty else {
                return signInPage(error: "No one signs in to “\(slug)” with an identity provider.", status: .notFound)
            }
            return html(
                "sso",
                [
                    "title": "Single sign-on", "org": slug,
                    "providers": providers.map { ["id": $0.id.uuidString.lowercased(), "name": $0.name] },
                ])
        } catch {
            let problem = Self.problem(error)
            return signInPage(error: problem.detail, status: problem.status)
        }
    }

    /// `GET /console/login/oidc/{provider}/start`: to the provider, with the sign-in sealed in a cookie that only
    /// the console's callback receives.
    func startProviderSignIn(_ request: Request, _ context: AppRequestContext) async -> Response {
        let scope = access.scope(request, context: context)
        do {
            let started = try await RequestScope.$current.withValue(scope) {
                try await api.identityProviders.start(context.parameters.get("provider") ?? "", returnTo: .console)
            }
            var response = redirect(started.authorizationURL)
            response.headers[.setCookie] = api.identityProviders.cookie(started.cookie, path: Self.providerPath)
            return response
        } catch {
            let problem = Self.problem(error)
            return signInPage(error: problem.detail, status: problem.status)
        }
    }

    /// Where the provider's sign-in cookie is sent: the console's OIDC paths only.
    static let providerPath = "/console/login/oidc"

    /// `GET /console/login/oidc/callback`: the session as the console's cookie, on a page that moves on to the
    /// console; a refusal (recorded as `auth.failed`) back on the sign-in page with its reason.
    func finishProviderSignIn(_ request: Request, _ context: AppRequestContext) async -> Response {
        let query = request.uri.queryParameters
        let scope = access.scope(request, context: context)
        let clearState = api.identityProviders.cookie("", path: Self.providerPath, maxAge: 0)
        do {
            let signedIn = try await RequestScope.$current.withValue(scope) {
                try await api.identityProviders.finish(
                    code: query.get("code"), state: query.get("state") ?? "", error: query.get("error"),
                    cookie: ConsoleSecurity.cookie(IdentityProvidersController.cookieName, in: request),
                    at: .console)
            }
            var response = html("signed-in", ["title": "Signed in", "email": signedIn.email])
            // The callback's address holds the spent code: no page it leads to is told it.
            response.headers[.referrerPolicy] = "no-referrer"
            response.headers[values: .setCookie] = [
                security.cookie(
                    ConsoleSecurity.sessionCookie, signedIn.session.token.plaintext, maxAge: sessionSeconds),
                clearState,
            ]
            return response
        } catch {
            let problem = Self.problem(error)
            var response = signInPage(error: problem.detail, status: problem.status)
            response.headers[values: .setCookie].append(clearState)
            return response
        }
    }
}
