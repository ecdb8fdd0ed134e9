import Foundation
import PackagePlugin

/// Embeds package files into a target as base64 literals: `sql/*.sql` into EscalationStore
/// (the migrations), `deploy/directory/*.yaml` and `api/*.yaml` into EscalationServer (the sample
/// directory, the OpenAPI document),
/// `templates/*.mustache` into EscalationDelivery (the message templates) and `tools/*.py` into
/// EscalationBench (the SMTP server the email scenario runs), `web/pages/*.mustache` and
/// `web/static/*.css|js` into EscalationWeb (the pages, the stylesheet and the live-update script).
@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL
        let sets: [(folder: String, suffix: String, enumName: String)]
        switch target.name {
        case "EscalationStore": sets = [("sql", ".sql", "EmbeddedMigrations")]
        case "EscalationServer": sets = [("deploy/directory", ".yaml", "EmbeddedDirectories"), ("api", ".yaml", "EmbeddedAPI")]
        case "EscalationDelivery": sets = [("templates", ".mustache", "EmbeddedTemplates")]
        case "EscalationBench": sets = [("tools", ".py", "EmbeddedTools")]
        case "EscalationWeb": sets = [("web/pages", ".mustache", "EmbeddedPages"), ("web/static", ".css", "EmbeddedStyles"),
                                      ("web/static", ".js", "EmbeddedScripts")]
        default: return []
        }
        return try sets.map { set in
            let directory = root.appending(path: set.folder)
            let inputs = try FileManager.default.contentsOfDirectory(atPath: directory.path())
                .filter { $0.hasSuffix(set.suffix) }
                .sorted()
                .map { directory.appending(path: $0) }
            let output = context.pluginWorkDirectoryURL.appending(path: "\(set.enumName).swift")
            return .buildCommand(
                displayName: "Embedding \(inputs.count) file(s) from \(set.folder)/ into \(target.name)",
                executable: try context.tool(named: "embed-files").url,
                arguments: [output.path(), set.enumName] + inputs.map { $0.path() },
                inputFiles: inputs,
                outputFiles: [output]
            )
        }
    }
}
