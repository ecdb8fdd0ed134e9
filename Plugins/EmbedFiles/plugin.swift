import Foundation
import PackagePlugin

/// Embeds package files into a target as base64 literals: `sql/*.sql` into EscalationStore
/// (the migrations), `deploy/directory/*.yaml` into EscalationServer (the sample directory) and
/// `templates/*.mustache` into EscalationDelivery (the message templates).
@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL
        let (folder, suffix, enumName): (String, String, String)
        switch target.name {
        case "EscalationStore": (folder, suffix, enumName) = ("sql", ".sql", "EmbeddedMigrations")
        case "EscalationServer": (folder, suffix, enumName) = ("deploy/directory", ".yaml", "EmbeddedDirectories")
        case "EscalationDelivery": (folder, suffix, enumName) = ("templates", ".mustache", "EmbeddedTemplates")
        default: return []
        }
        let directory = root.appending(path: folder)
        let inputs = try FileManager.default.contentsOfDirectory(atPath: directory.path())
            .filter { $0.hasSuffix(suffix) }
            .sorted()
            .map { directory.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "\(enumName).swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) file(s) from \(folder)/ into \(target.name)",
                executable: try context.tool(named: "embed-files").url,
                arguments: [output.path(), enumName] + inputs.map { $0.path() },
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
