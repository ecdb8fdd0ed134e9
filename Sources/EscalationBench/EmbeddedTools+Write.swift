import Foundation

extension EmbeddedTools {
    /// Writes the shipped tool `name` (from `tools/`) into `folder` and returns its path.
    static func write(_ name: String, into folder: String) throws -> String {
        guard let file = files.first(where: { $0.name == name }), let bytes = Data(base64Encoded: file.base64) else {
            throw BenchError("the benchmark was built without tools/\(name)")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent(name)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }
}
