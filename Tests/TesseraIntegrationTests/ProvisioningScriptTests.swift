import Foundation
import Testing

/// provisioning/postgres in a world-writable place: a socket directory someone else prepared (a symbolic link, a
/// directory anyone may write to) is refused before anything is started, created or chowned.
@Suite struct ProvisioningScriptTests {
    func start(socketDirectory: String) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(TestDatabase.root)/provisioning/postgres")
        process.arguments = ["start"]
        var environment = ProcessInfo.processInfo.environment
        environment["TESSERA_PG_CLUSTER"] = "prepared"
        environment["TESSERA_PG_SOCKET_DIR"] = socketDirectory
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, text)
    }

    @Test func aSocketDirectorySomeoneElsePreparedIsRefused() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-prepared-\(UUID())").path
        let target = base + "-target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        defer {
            try? FileManager.default.removeItem(atPath: base)
            try? FileManager.default.removeItem(atPath: target)
        }
        try FileManager.default.createSymbolicLink(atPath: base, withDestinationPath: target)
        let linked = try start(socketDirectory: base)
        #expect(linked.status != 0 && linked.errors.contains("is a symbolic link"), "\(linked.errors)")
        // The link's target was not given away.
        let owner = try FileManager.default.attributesOfItem(atPath: target)[.ownerAccountName] as? String
        #expect(owner == NSUserName() || owner == "root")

        try FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(
            atPath: base, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
        let open = try start(socketDirectory: base)
        // (As root the directory is also not the postgres user's: refused for that first.)
        #expect(open.status != 0 && open.errors.contains("refusing to use it"), "\(open.errors)")
        #expect(!FileManager.default.fileExists(atPath: "\(TestDatabase.root)/.data/pg-prepared"))
    }
}
