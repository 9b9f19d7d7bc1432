import Foundation
import Testing

@testable import TesseraCore
@testable import TesseraGateway

/// Signed download links: accepted until they expire, refused when any part is changed or signed with another key.
@Suite struct ArtifactLinkTests {
    static let box = try! SecretBox(masterKeyBase64: SecretBox.generateMasterKey())

    @Test func aLinkIsTheOrgAndArtifactItWasMadeForUntilItExpires() throws {
        let links = ArtifactLinks(box: Self.box)
        let (org, artifact) = (UUID(), UUID())
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let token = links.token(org: org, artifact: artifact, expires: now.addingTimeInterval(60))
        let verified = try #require(links.verify(token, now: now))
        #expect(verified.org == org && verified.artifact == artifact)
        #expect(links.verify(token, now: now.addingTimeInterval(60)) == nil)  // expired at its second
        #expect(
            ArtifactLinks(box: try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())).verify(token, now: now)
                == nil)
        // Every single-character change of the token is refused.
        let characters = Array(token)
        for index in characters.indices {
            var changed = characters
            changed[index] = changed[index] == "0" ? "1" : "0"
            #expect(links.verify(String(changed), now: now) == nil, "changed at \(index): \(String(changed))")
        }
        // Upper-case ids name the same artifact but are not the signed text: refused.
        #expect(links.verify(token.uppercased(), now: now) == nil)
        #expect(links.verify(token + ".x", now: now) == nil)
        #expect(links.verify("", now: now) == nil)
    }
}
