import Foundation
import EscalationTestSupport
import PostgresCluster

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A real SMTP server (aiosmtpd, run by `smtp_server.py`) on a loopback port, writing each
/// message it accepts into a folder as an `.eml` file.
final class SMTPServer: @unchecked Sendable {
    let port: Int
    let folder: String
    let options: [String]
    private var process: Process?

    /// `port` nil picks a free one; the server is started by `start()`. `options` are the
    /// script's (`--auth`, `--login-only`, `--starttls CERT KEY`, `--tls CERT KEY`).
    init(port: Int? = nil, requireAuth: Bool = false, options: [String] = []) throws {
        self.port = try port ?? PostgresCluster.freeLoopbackPort()
        folder = NSTemporaryDirectory() + "escalated-smtp-\(UInt32.random(in: 0...UInt32.max))"
        self.options = (requireAuth ? ["--auth"] : []) + options
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    /// A certificate authority and a server certificate for 127.0.0.1 made with openssl in
    /// `folder`: (CA file, certificate, key).
    static func makeCertificates(in folder: String) throws -> (ca: String, cert: String, key: String) {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestFailure("openssl \(arguments.first ?? "") failed") }
        }
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=escalated test CA"])
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: folder + "/san.ext", atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"])
        return (folder + "/ca.pem", folder + "/server.pem", folder + "/server.key")
    }

    static var script: String {
        // tools/smtp_server.py, at the package's root (the benchmark ships the same script).
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/smtp_server.py").path
    }

    /// Starts the server and waits until it accepts connections.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, "\(port)", folder] + options
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let log = folder + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw TestFailure("the SMTP server (aiosmtpd) exited; is it installed (`pip install aiosmtpd`)? \(text)")
            }
            if PostgresCluster.loopbackPortAccepts(port) {
                // aiosmtpd opens the port a moment before it serves TLS handshakes.
                try await Task.sleep(for: .milliseconds(200))
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the SMTP server did not start listening on port \(port)")
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// The messages received so far, as text.
    var messages: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
            .compactMap { try? String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.removeItem(atPath: folder + ".log")
    }
}

/// Reads what tests need from a received message: headers (unfolded, encoded words decoded) and
/// the decoded text and HTML parts.
struct ReceivedMail {
    let raw: String
    let headers: [(String, String)]

    init(_ raw: String) {
        self.raw = raw.replacingOccurrences(of: "\r\n", with: "\n")
        let head = self.raw.components(separatedBy: "\n\n")[0]
        var lines: [String] = []
        for line in head.components(separatedBy: "\n") {
            if (line.hasPrefix(" ") || line.hasPrefix("\t")), !lines.isEmpty { lines[lines.count - 1] += "\n" + line } else { lines.append(line) }
        }
        headers = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), EncodedWords.decode(String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    func all(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }

    /// The decoded body of the part whose Content-Type starts with `type`.
    func part(_ type: String) -> String? {
        for part in raw.components(separatedBy: "\n--") {
            guard part.contains("Content-Type: \(type)") else { continue }
            let sections = part.components(separatedBy: "\n\n")
            guard sections.count >= 2 else { continue }
            let encoded = sections[1].replacingOccurrences(of: "\n", with: "")
            return String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
        }
        return nil
    }
}
