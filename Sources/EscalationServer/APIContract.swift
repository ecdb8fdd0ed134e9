import Foundation
import Yams

/// What the middleware needs to know of the OpenAPI document, read from it at start-up: each
/// operation's parameters and the values its body's enumerations take.
///
/// The generated server decodes parameters and bodies, but a value it cannot decode reaches us
/// without the parameter's name; checking parameters first, against the same document, lets
/// every refusal name its field and say what would be accepted.
struct APIContract: Sendable {
    /// What a parameter's value must be.
    struct Rule: Sendable, Equatable {
        /// The values an enumeration allows.
        var values: [String]?
        /// A whole number.
        var integer = false

        /// nil when `text` is acceptable, otherwise what it must be.
        func problem(_ text: String) -> String? {
            if let values, !values.contains(text) { return "must be one of \(values.joined(separator: ", "))" }
            if integer, Int64(text) == nil { return "must be a whole number" }
            return nil
        }
    }

    struct Operation: Sendable, Equatable {
        var query: [String: Rule] = [:]
        var path: [String: Rule] = [:]
        /// The enumerations among the JSON body's fields, by field name.
        var bodyValues: [String: [String]] = [:]
    }

    /// By operationId.
    var operations: [String: Operation]

    init(document: [UInt8]) throws {
        guard let root = try Yams.load(yaml: String(decoding: document, as: UTF8.self)) as? [String: Any],
              let paths = root["paths"] as? [String: Any] else {
            operations = [:]
            return
        }
        let components = root["components"] as? [String: Any] ?? [:]
        /// `{$ref: "#/components/KIND/NAME"}` → what it names; anything else as it is.
        func resolved(_ value: Any?) -> [String: Any] {
            guard let object = value as? [String: Any] else { return [:] }
            guard let ref = object["$ref"] as? String else { return object }
            let parts = ref.split(separator: "/").map(String.init)
            guard parts.count == 4, parts[0] == "#", parts[1] == "components" else { return object }
            return resolved((components[parts[2]] as? [String: Any])?[parts[3]])
        }
        func rule(_ schema: [String: Any]) -> Rule {
            Rule(values: (schema["enum"] as? [Any])?.map { "\($0)" }, integer: schema["type"] as? String == "integer")
        }
        var operations: [String: Operation] = [:]
        for case let (_, item as [String: Any]) in paths {
            let common = item["parameters"] as? [Any] ?? []
            for case let (_, method as [String: Any]) in item {
                guard let id = method["operationId"] as? String else { continue }
                var operation = Operation()
                for parameter in (common + (method["parameters"] as? [Any] ?? [])).map(resolved) {
                    guard let name = parameter["name"] as? String else { continue }
                    let schemaRule = rule(resolved(parameter["schema"]))
                    switch parameter["in"] as? String {
                    case "query": operation.query[name] = schemaRule
                    case "path": operation.path[name] = schemaRule
                    default: break
                    }
                }
                let content = resolved(method["requestBody"])["content"] as? [String: Any] ?? [:]
                let body = resolved((content["application/json"] as? [String: Any])?["schema"])
                for case let (name, property) in body["properties"] as? [String: Any] ?? [:] {
                    if let values = rule(resolved(property)).values { operation.bodyValues[name] = values }
                }
                operations[id] = operation
            }
        }
        self.operations = operations
    }

    /// Checks a request's query string and path parameters against `operationID`'s: every query
    /// parameter known and given once, every value of the right kind. Throws ``APIError`` (400).
    func check(operationID: String, path: String, pathParameters: [String: Substring]) throws {
        let operation = operations[operationID] ?? Operation()
        for (name, value) in pathParameters.sorted(by: { $0.key < $1.key }) {
            if let problem = operation.path[name]?.problem(String(value)) { throw APIError.badRequest(name, problem) }
        }
        guard let start = path.firstIndex(of: "?") else { return }
        var seen: Set<String> = []
        for pair in path[path.index(after: start)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decoded(parts[0])
            guard let rule = operation.query[name] else {
                let expected = operation.query.isEmpty ? "this operation takes none" : "expected \(operation.query.keys.sorted().joined(separator: ", "))"
                throw APIError.badRequest(name, "unknown query parameter (\(expected))")
            }
            guard seen.insert(name).inserted else { throw APIError.badRequest(name, "given twice") }
            if let problem = rule.problem(parts.count > 1 ? decoded(parts[1]) : "") { throw APIError.badRequest(name, problem) }
        }
    }
}
