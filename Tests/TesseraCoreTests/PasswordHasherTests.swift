import Foundation
import Testing

@testable import TesseraCore

@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher()

    @Test func hashIsAnArgon2idPHCStringWithAtLeastTheMinimumCost() throws {
        let phc = try hasher.hash("correct horse battery staple")
        #expect(phc.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(hasher.verify("correct horse battery staple", against: phc))
        #expect(!hasher.verify("correct horse battery stapler", against: phc))
        #expect(try hasher.hash("same") != hasher.hash("same"))  // salted
    }

    @Test func garbageNeverVerifies() {
        #expect(!hasher.verify("x", against: ""))
        #expect(!hasher.verify("x", against: "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA"))
        #expect(!hasher.verify("x", against: "$argon2id$nonsense"))
    }

    /// Python's argon2-cffi (installed by provisioning/test) verifies our hashes, and we verify its.
    @Test func interoperatesWithArgon2CFFIBothWays() throws {
        let password = "pässwörd with ünïcode & spaces"
        let ours = try hasher.hash(password)
        let verdict = try python(
            "import sys, argon2; print(argon2.PasswordHasher().verify(sys.argv[1], sys.argv[2]))", ours, password)
        #expect(verdict == "True")
        let theirs = try python(
            "import sys, argon2; print(argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(sys.argv[1]))",
            password)
        #expect(theirs.hasPrefix("$argon2id$"))
        #expect(hasher.verify(password, against: theirs))
        #expect(!hasher.verify("other", against: theirs))
    }

    func python(_ script: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(
            process.terminationStatus == 0, "python3 failed: is argon2-cffi installed (provisioning/test installs it)?")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite struct RoleTests {
    @Test func systemRolesNest() {
        let owner = SystemRole.owner.permissions
        #expect(owner == Set(Permission.allCases))
        for role in SystemRole.allCases { #expect(role.permissions.isSubset(of: owner)) }
        #expect(SystemRole.viewer.permissions.isSubset(of: SystemRole.editor.permissions))
        #expect(SystemRole.editor.permissions.isSubset(of: SystemRole.admin.permissions))
        #expect(!SystemRole.admin.permissions.contains(.orgsManage))
        #expect(SystemRole.auditor.permissions == [.auditRead])
    }

    @Test func principalsSeeOnlyTheirOrgs() {
        let a = UUID()
        let b = UUID()
        let key = Principal(kind: .apiKey(keyID: UUID()), display: "tsk_x", grants: [a: [.predictionsRead]])
        #expect(key.permissions(in: a) == [.predictionsRead])
        #expect(key.permissions(in: b) == nil)
        let admin = Principal(kind: .platformAdmin(keyID: UUID()), display: "tsk_y", grants: [:])
        #expect(admin.permissions(in: b) == Set(Permission.allCases))
    }

    @Test func permissionNamesParse() throws {
        #expect(try Permission.parse(["keys.manage", "audit.read"]).get() == [.keysManage, .auditRead])
        #expect(throws: UnknownPermission(name: "keys.steal")) { try Permission.parse(["keys.steal"]).get() }
    }
}
