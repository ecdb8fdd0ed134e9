import EscalationCore
@testable import EscalationServer
import EscalationStore
import Foundation
import HTTPTypes
import OpenAPIRuntime
import Testing

/// The glue between the generated server and the rest: what the middleware reads from the
/// document, how refusals are named, and that every stored value has its counterpart in the
/// contract's types. No server, no database: these are plain values.
@Suite("The API contract's glue")
struct ContractTests {
    let contract: APIContract

    init() throws {
        contract = try APIContract(document: OpenAPIDocument.bytes)
    }

    @Test("the document's parameters and body enumerations are read, $refs followed")
    func readsTheDocument() throws {
        #expect(!OpenAPIDocument.bytes.isEmpty)
        let list = try #require(contract.operations["listIssues"])
        #expect(Set(list.query.keys) == ["unit", "area", "sector", "agency", "state", "overdue", "since", "sort", "limit", "cursor"])
        #expect(list.query["state"]?.values == IssueState.allCases.map(\.rawValue))
        #expect(list.query["limit"] == APIContract.Rule(values: nil, integer: true), "from components/parameters/Limit")
        #expect(list.query["since"] == APIContract.Rule())
        #expect(contract.operations["getIssue"]?.path["id"]?.integer == true)
        #expect(contract.operations["getIssue"]?.query.isEmpty == true)
        #expect(contract.operations["createIssue"]?.bodyValues == ["severity": ["normal", "urgent"]], "from components/schemas/Severity")
        #expect(contract.operations["commentIssue"]?.bodyValues["kind"] == CommentKind.allCases.map(\.rawValue))
        #expect(contract.operations["extendDeadline"]?.bodyValues["deadline"] == ["acknowledge", "resolve"])
        #expect(contract.operations.count == 23)
    }

    @Test("parameters are checked against the operation's own, each refusal naming the parameter")
    func checksParameters() throws {
        func field(_ operation: String, _ path: String, _ parameters: [String: Substring] = [:]) -> String? {
            do {
                try contract.check(operationID: operation, path: path, pathParameters: parameters)
                return nil
            } catch let error as APIError {
                #expect(error.status == .badRequest)
                #expect(error.message.hasPrefix("\(error.field ?? "?"): "))
                return error.field
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(field("listIssues", "/v1/issues") == nil)
        #expect(field("listIssues", "/v1/issues?state=routed&limit=20&since=2026-11-01&unit=N%201") == nil)
        #expect(field("listIssues", "/v1/issues?stat=open") == "stat")
        #expect(field("listIssues", "/v1/issues?unit=A&unit=B") == "unit")
        #expect(field("listIssues", "/v1/issues?state=lost") == "state")
        #expect(field("listIssues", "/v1/issues?limit=ten") == "limit")
        #expect(field("listIssues", "/v1/issues?over%64ue=maybe") == "overdue", "names are percent-decoded")
        #expect(field("inbox", "/v1/inbox?unit=N1") == "unit", "the inbox takes no unit")
        #expect(field("getIssue", "/v1/issues/abc", ["id": "abc"]) == "id")
        #expect(field("getIssue", "/v1/issues/7", ["id": "7"]) == nil)
        #expect(field("health", "/healthz?verbose=1") == "verbose")
    }

    @Test("a body the generated decoder refuses is answered 400 naming the field")
    func decodingErrors() throws {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int?
            init(_ name: String) { stringValue = name }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) {
                stringValue = "\(intValue)"
                self.intValue = intValue
            }
        }
        func context(_ path: [String], _ text: String = "") -> DecodingError.Context { .init(codingPath: path.map(Key.init), debugDescription: text) }
        let cases: [(DecodingError, String, String)] = [
            (.keyNotFound(Key("title"), context([])), "title", "is required"),
            (.typeMismatch(String.self, context(["title"])), "title", "must be a string"),
            (.typeMismatch(Int.self, context(["expires_in_days"])), "expires_in_days", "must be a whole number"),
            (.valueNotFound(String.self, context(["reason"])), "reason", "must be a string, not null"),
            (.typeMismatch([String: Any].self, context([])), "body", "must be a JSON object"),
            (.dataCorrupted(context([], "The given data was not valid JSON.")), "body", "not valid JSON"),
            (.dataCorrupted(context(["colour"], "Additional properties are disabled, but found 1 unknown keys during decoding")), "colour", "unknown field"),
            (.dataCorrupted(context(["severity"], "Cannot initialize SeverityPayload from invalid String value critical")), "severity",
             "must be one of normal, urgent"),
        ]
        for (error, field, message) in cases {
            let answer = JSONErrorMiddleware.translate(error, values: ["severity": ["normal", "urgent"]])
            #expect(answer.status == .badRequest)
            #expect(answer.field == field)
            #expect(answer.message.hasPrefix("\(field): \(message)"), "\(answer.message)")
        }
    }

    @Test("the generated server's other refusals are answered with the API's error, naming the field")
    func serverErrors() throws {
        struct Refusal: Error, HTTPResponseConvertible {
            var httpStatus: HTTPResponse.Status
        }
        let middleware = JSONErrorMiddleware(contract: contract)
        func answer(_ cause: String, _ underlying: any Error, operation: String = "createIssue") -> APIError {
            middleware.translate(ServerError(
                operationID: operation, request: HTTPRequest(method: .post, scheme: nil, authority: nil, path: "/v1/issues"),
                requestBody: nil, requestMetadata: .init(), causeDescription: cause, underlyingError: underlying))
        }
        let handlerError = APIError.invalid("title", "is empty")
        #expect(answer("Unknown", handlerError).message == handlerError.message, "a handler's APIError passes through")
        let severity = answer("parse", DecodingError.dataCorrupted(.init(codingPath: [Components.Schemas.NewIssue.CodingKeys.severity],
                                                                         debugDescription: "Cannot initialize SeverityPayload from invalid String value x")))
        #expect(severity.field == "severity" && severity.message == "severity: must be one of normal, urgent", "the values come from the operation's body")
        let cases: [(String, HTTPResponse.Status, HTTPResponse.Status, String)] = [
            ("Unexpected content type, expected: application/json, received: text/plain", .unsupportedMediaType, .unsupportedMediaType, "Content-Type"),
            ("Response content type not acceptable, content type: application/json, accepted: text/html", .notAcceptable, .notAcceptable, "Accept"),
            ("Missing required request body", .badRequest, .badRequest, "body"),
            ("Missing required query parameter named: from", .badRequest, .badRequest, "from"),
            ("The required header field named 'If-Match' is missing.", .badRequest, .badRequest, "If-Match"),
            ("Malformed Accept header: ;;", .badRequest, .badRequest, "Accept"),
        ]
        for (cause, given, status, field) in cases {
            let translated = answer(cause, Refusal(httpStatus: given))
            #expect(translated.status == status && translated.field == field, "\(cause)")
            #expect(translated.message.hasPrefix("\(field): "), "\(translated.message)")
        }
        let internalError = answer("Unknown", Refusal(httpStatus: .internalServerError))
        #expect(internalError.status == .internalServerError && internalError.code == "internal")
        #expect(!internalError.message.contains("Unknown"), "a server fault is not described to the client")
    }

    @Test("every value the stores hold has its counterpart in the contract's types")
    func valuesMap() throws {
        for value in Severity.allCases { #expect(Components.Schemas.Severity(value).rawValue == value.rawValue) }
        for value in IssueOrigin.allCases { #expect(Components.Schemas.Issue.OriginPayload(value).rawValue == value.rawValue) }
        for value in IssueState.allCases { #expect(Components.Schemas.State(value).rawValue == value.rawValue) }
        for value in TargetKind.assignable { #expect(Components.Schemas.Assignment.KindPayload(value).rawValue == value.rawValue) }
        #expect(Set(Components.Schemas.Assignment.KindPayload.allCases.map(\.rawValue)) == Set(TargetKind.assignable.map(\.rawValue)))
        for value in AssignmentRole.allCases { #expect(Components.Schemas.Assignment.RolePayload(value).rawValue == value.rawValue) }
        #expect(Set(Components.Schemas.State.allCases.map(\.rawValue)) == Set(IssueState.allCases.map(\.rawValue)))
        // An event's payload keeps its shape, and whole numbers stay whole.
        let payload = JSONValue.object(["level": .number(2), "ratio": .number(0.5), "to": .array([.string("a"), .null]), "ok": .bool(true)])
        let encoded = try JSONEncoder().encode(OpenAPIValueContainer(payload))
        let decoded = try JSONSerialization.jsonObject(with: encoded) as? [String: Any]
        #expect(decoded?["level"] as? Int == 2)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""level":2"#))
        #expect(decoded?["ratio"] as? Double == 0.5)
        #expect((decoded?["to"] as? [Any])?.count == 2)
        #expect(decoded?["ok"] as? Bool == true)
    }

    @Test("times are RFC 3339 in UTC with milliseconds, both ways")
    func times() throws {
        let transcoder = APIDateTranscoder()
        let date = Date(timeIntervalSince1970: 1_795_752_000.125)
        #expect(try transcoder.encode(date) == "2026-11-27T04:00:00.125Z")
        #expect(try transcoder.decode("2026-11-27T04:00:00.125Z") == date)
        #expect(try transcoder.decode("2026-11-27T11:00:00+07:00") == Date(timeIntervalSince1970: 1_795_752_000))
        #expect(throws: (any Error).self) { try transcoder.decode("yesterday") }
    }
}
