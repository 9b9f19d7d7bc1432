import Foundation
import HTTPTypes
import Hummingbird
import Testing

@testable import TesseraGateway

/// The console's pure parts: form decoding, CSRF tokens, cookies.
@Suite struct ConsoleSecurityTests {
    @Test func formsDecodeAsBrowsersEncodeThem() {
        let form = ConsoleForm("name=Ada+Lab&slug=ada%2Dlab&name=second&empty=&bare&note=%E2%9C%93+ok")
        #expect(form["name"] == "Ada Lab", "the first value of a name wins")
        #expect(form["slug"] == "ada-lab")
        #expect(form["empty"] == "" && form.text("empty") == nil)
        #expect(form["bare"] == "")
        #expect(form["note"] == "✓ ok")
        #expect(form.text("missing") == nil)
        #expect(ConsoleForm("a=%ZZ")["a"] == "", "a malformed escape is no value, not a crash")
    }

    @Test func csrfTokensBelongToOneSessionAndOneMasterKey() {
        let security = ConsoleSecurity(masterKey: Data(repeating: 7, count: 32), secure: false)
        let token = security.csrf(for: "tss_session_a")
        #expect(token.count == 64 && token == security.csrf(for: "tss_session_a"))
        #expect(security.checks(token, session: "tss_session_a"))
        #expect(!security.checks(token, session: "tss_session_b"))
        #expect(!security.checks(nil, session: "tss_session_a"))
        #expect(!security.checks(String(token.dropLast()), session: "tss_session_a"))
        let otherDeployment = ConsoleSecurity(masterKey: Data(repeating: 8, count: 32), secure: false)
        #expect(otherDeployment.csrf(for: "tss_session_a") != token)
    }

    @Test func cookiesAreHttpOnlyStrictAndSecureUnderTLS() {
        let plain = ConsoleSecurity(masterKey: Data(count: 32), secure: false).cookie("s", "v", maxAge: 60)
        #expect(plain == "s=v; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict")
        let secure = ConsoleSecurity(masterKey: Data(count: 32), secure: true).cookie("s", "", maxAge: 0)
        #expect(secure.hasSuffix("; Secure") && secure.contains("Max-Age=0"))

        var head = HTTPRequest(method: .get, scheme: "http", authority: "x", path: "/console")
        head.headerFields[.cookie] = "a=1; tessera_session=tss_x ; b=2"
        let request = Request(head: head, body: RequestBody(buffer: .init()))
        #expect(ConsoleSecurity.cookie("tessera_session", in: request) == "tss_x")
        #expect(ConsoleSecurity.cookie("missing", in: request) == nil)
    }

    @Test func everyPageForbidsInlineScriptAndFraming() {
        var headers: HTTPFields = [:]
        ConsoleSecurity.harden(&headers)
        let policy = headers[.contentSecurityPolicy] ?? ""
        #expect(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
        #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
        #expect(headers[.cacheControl] == "no-store" && headers[.xContentTypeOptions] == "nosniff")
    }
}

/// The console's precision–recall chart.
@Suite struct ConsoleChartTests {
    @Test func eachSeriesIsALineWithItsFmaxMarkedInsideThePlot() {
        let svg = ConsoleChart.precisionRecall(
            [
                .init(
                    name: "biological_process", recall: [0, 0.5, 1], precision: [1, 0.75, 0.25], best: (0.6, 0.5, 0.75)),
                .init(name: "<mf & co>", recall: [0.2], precision: [0.9], best: nil),
            ], title: "t")
        #expect(svg.components(separatedBy: "<polyline").count == 3)
        #expect(svg.components(separatedBy: "<circle").count == 2, "a series without a best point has no marker")
        // recall 0.5 → x = 48 + 0.5·384 = 240; precision 0.75 → y = 360 − 48 − 0.75·264 = 114.
        #expect(svg.contains(#"cx="240" cy="114""#))
        #expect(svg.contains(#"points="48,48 240,114 432,246""#))
        #expect(svg.contains("&lt;mf &amp; co&gt;") && !svg.contains("<mf & co>"), "names are escaped")
        #expect(!svg.contains("style="), "no inline CSS: the console's policy forbids it")
        #expect(svg.contains("Fmax 0.6"))
    }

    @Test func numbersAreShortAndClamped() {
        #expect(ConsoleChart.format(0.25) == "0.25" && ConsoleChart.format(128) == "128")
        #expect(ConsoleChart.format(0.6000001, digits: 3) == "0.6")
        let svg = ConsoleChart.precisionRecall(
            [.init(name: "x", recall: [1.5], precision: [-0.2], best: nil)], title: "t")
        #expect(svg.contains(#"points="432,312""#), "values outside 0…1 stay on the plot's edge")
    }
}

extension ConsoleSecurityTests {
    @Test func checkboxesKeepEveryValue() {
        let form = ConsoleForm("permission=a.read&name=x&permission=b.write")
        #expect(form.all("permission") == ["a.read", "b.write"] && form["permission"] == "a.read")
        #expect(form.all("none").isEmpty)
    }
}
