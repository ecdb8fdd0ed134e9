public import EscalationCore
import Foundation

/// Something that takes a finished message to its recipients.
public protocol MailTransport: Sendable {
    /// Recorded with each delivery: `smtp` or `file`.
    var name: String { get }
    /// Sends one message; never throws: every failure is an outcome.
    func send(_ message: MailMessage) async -> DeliveryOutcome
}

/// Writes each message as an `.eml` file into a folder: the embedded default of `demo`, so a new
/// user sees what would be sent. A resend of the same delivery (same Message-ID) overwrites its
/// file, so the folder holds each message once.
public struct FileMailTransport: MailTransport {
    public let folder: String
    public var name: String { "file" }

    public init(folder: String) {
        self.folder = folder
    }

    public func send(_ message: MailMessage) async -> DeliveryOutcome {
        let safe = String(message.messageID.unicodeScalars.map { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil || "._@-".unicodeScalars.contains(scalar)) ? Character(scalar) : "_"
        })
        let path = (folder as NSString).appendingPathComponent(safe + ".eml")
        let temporary = (folder as NSString).appendingPathComponent(".\(safe).\(UInt32.random(in: 0...UInt32.max)).tmp")
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(message.rendered().utf8).write(to: URL(fileURLWithPath: temporary))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
            return .sent("written to \(path)")
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            return .transient("could not write \(path): \(error)")
        }
    }
}
