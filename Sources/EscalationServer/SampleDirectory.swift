public import EscalationCore
import EscalationStore
import EscalationYAML
import Foundation

/// The sample directory shipped with the daemon (`deploy/directory/lao-cai.yaml`), imported by
/// `demo` into an empty database.
public enum SampleDirectory {
    public static let fileName = "lao-cai.yaml"

    public static func text() throws -> String {
        guard let file = EmbeddedDirectories.files.first(where: { $0.name == fileName }),
              let data = Data(base64Encoded: file.base64) else {
            throw SettingsError("the sample directory \(fileName) was not embedded in this build")
        }
        return String(decoding: data, as: UTF8.self)
    }

    public static func load() throws -> Directory {
        try DirectoryFile.parse(try text(), file: fileName)
    }
}
