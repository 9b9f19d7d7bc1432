import Foundation
import TesseraTestSupport
import Testing

/// A test server from `provisioning/` (the SMTP, OIDC, S3 and task-service test servers; a script named with its
/// folder, such as `examples/docking/service.py`, is taken from the project's root): started with `python3`, it
/// prints the port it listens on as its first line and stops when its standard input closes, so it never outlives
/// the test.
enum ScriptServer {
    static func with<T>(_ script: String, _ arguments: [String], _ body: (Int) async throws -> T) async throws -> T {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let path = script.contains("/") ? script : "provisioning/\(script)"
        process.arguments = ["python3", "\(TestDatabase.root)/\(path)"] + arguments
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let exit = ProcessExit(process)
        try process.run()
        let port = await withCheckedContinuation { (done: CheckedContinuation<Int?, Never>) in
            Thread.detachNewThread {
                var line = Data()
                while true {
                    let byte = output.fileHandleForReading.readData(ofLength: 1)
                    if byte.isEmpty || byte == Data("\n".utf8) { break }
                    line.append(byte)
                }
                done.resume(returning: Int(String(decoding: line, as: UTF8.self)))
            }
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(try #require(port, "\(path) did not start")))
        } catch {
            result = .failure(error)
        }
        // Its standard input closed, the server stops; its exit is awaited without holding a thread. A process
        // another test started meanwhile (a database server it restarted) inherits a copy of that pipe's end and keeps
        // it open, and the server's SIGTERM is blocked (the signal mask it inherited): past 5 s it is killed.
        try? input.fileHandleForWriting.close()
        let pid = process.processIdentifier
        let killer = Task {
            try await Task.sleep(for: .seconds(5))
            kill(pid, SIGKILL)
        }
        _ = await exit.status()
        killer.cancel()
        return try result.get()
    }
}
