import Foundation
import Testing

@testable import TesseraCore

@Suite struct TenantNamingTests {
    @Test func aStepThatFailedForAPassingReasonPausesLongerEachTimeUpToHalfAMinute() {
        let pauses = (0...8).map { ProvisioningStep.retryDelay(afterAttempt: $0) }
        #expect(pauses == [1, 1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
        #expect(ProvisioningStep.automaticAttempts > 1)
    }

    @Test func databaseNamesComeFromTheUUIDOnly() {
        let org = UUID(uuidString: "FAB05A68-B776-45A3-ADD4-88FDE80570B7")!
        let name = OrgDatabaseName(org: org)
        #expect(name.value == "org_fab05a68b77645a3add488fde80570b7")
        #expect(name.value.count == 36)
        #expect(name.quoted == "\"org_fab05a68b77645a3add488fde80570b7\"")
        #expect(name.org == org)
        #expect(OrgDatabaseName(existing: name.value) == name)
        for bad in [
            "org_x", "org_FAB05A68B77645A3ADD488FDE80570B7", "tessera_meta",
            "org_fab05a68b77645a3add488fde80570b7\"; DROP",
        ] {
            #expect(OrgDatabaseName(existing: bad) == nil)
        }
    }

    @Test func slugs() {
        #expect(OrgSlug.derive(from: "Acme Labs, Inc.") == "acme-labs-inc")
        #expect(OrgSlug.derive(from: "  Ünïcode & Co ") == "n-code-co")
        #expect(OrgSlug.derive(from: "X") == "org-x")
        #expect(OrgSlug.isValid("acme-labs"))
        #expect(!OrgSlug.isValid("-acme"))
        #expect(!OrgSlug.isValid("Acme"))
        #expect(!OrgSlug.isValid("a"))
    }

    @Test func sealedSecretsOpenOnlyForTheirOrgAndKey() throws {
        let box = try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())
        let a = UUID()
        let b = UUID()
        let sealed = try box.seal("hunter2", for: a)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("hunter2"))
        #expect(try box.open(sealed, for: a) == "hunter2")
        #expect(throws: SecretBox.BoxError.cannotOpen) { try box.open(sealed, for: b) }
        let other = try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())
        #expect(throws: SecretBox.BoxError.cannotOpen) { try other.open(sealed, for: a) }
        #expect(throws: SecretBox.BoxError.badMasterKey) { try SecretBox(masterKeyBase64: "c2hvcnQ=") }
    }

    @Test func scramVerifierHasPostgresShapeAndIsDeterministicForASalt() {
        let salt = [UInt8](repeating: 7, count: 16)
        let v = ScramVerifier.make(password: "pencil", salt: salt)
        #expect(v.hasPrefix("SCRAM-SHA-256$4096:BwcHBwcHBwcHBwcHBwcHBw==$"))
        #expect(v == ScramVerifier.make(password: "pencil", salt: salt))
        #expect(v != ScramVerifier.make(password: "pencil2", salt: salt))
        #expect(!v.contains("'"))
    }

    /// RFC 6070-style check of the PBKDF2 core with SHA-256 (known answer from RFC 7914 §11).
    @Test func pbkdf2KnownAnswer() {
        let out = ScramVerifier.hi(password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1)
        #expect(out.hexString == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")
    }

    @Test func hexStringsAreLowerCaseTwoDigitsAByte() {
        let bytes = (0...255).map { UInt8($0) }
        let expected = bytes.map { String(format: "%02x", $0) }.joined()
        #expect(bytes.hexString == expected)
        #expect(bytes.lazy.filter { _ in true }.hexString == expected)  // no contiguous storage
        #expect([UInt8]().hexString == "")
    }
}

@Suite struct SigningTests {
    @Test func signaturesDependOnTheMasterKey() throws {
        let a = try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())
        let b = try SecretBox(masterKeyBase64: SecretBox.generateMasterKey())
        let signature = a.sign("org|5|abc", purpose: "p")
        #expect(a.verify(signature: signature, of: "org|5|abc", purpose: "p"))
        #expect(!b.verify(signature: signature, of: "org|5|abc", purpose: "p"))
        #expect(!a.verify(signature: signature, of: "org|6|abc", purpose: "p"))
        #expect(!a.verify(signature: signature, of: "org|5|abc", purpose: "q"))
    }
}
