import EscalationCore
import EscalationStore
import Foundation
import Hummingbird

/// `/v1/deliveries`: what the outbox holds, for operators (dead letters first of all), and re-driving.
struct DeliveriesController: Sendable {
    let deliveries: DeliveryStore

    static let states: Set<String> = ["pending", "sent", "dead"]

    func addRoutes(to router: Router<APIContext>) {
        router.get("/v1/deliveries") { request, context in try await self.list(request, context: context) }
        router.post("/v1/deliveries/:id/retry") { _, context in try await self.retry(context: context) }
    }

    struct Page: Encodable {
        var items: [DeliveryStore.Delivery]
        var nextCursor: String?
        enum CodingKeys: String, CodingKey {
            case items
            case nextCursor = "next_cursor"
        }
    }

    func list(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        var state: String?
        var limit = 50
        var before: Int64?
        for (name, text) in try IssuesController.queryValues(request.uri.queryParameters, allowed: ["cursor", "limit", "state"]) {
            switch name {
            case "state":
                guard Self.states.contains(text) else { throw APIError.badRequest("state", "must be one of dead, pending, sent") }
                state = text
            case "limit":
                guard let n = Int(text), (1...200).contains(n) else { throw APIError.badRequest("limit", "must be a whole number from 1 to 200") }
                limit = n
            case "cursor":
                guard let id = IssuesController.before(cursor: text) else { throw APIError.badRequest("cursor", "not a cursor returned by this API for this list") }
                before = id
            default:
                break
            }
        }
        let items = try await storeCall(context) { try await deliveries.list(state: state, before: before, limit: limit + 1, logger: context.logger) }
        let page = Array(items.prefix(limit))
        return try APIJSON.response(Page(items: page, nextCursor: items.count > limit ? page.last.map { IssuesController.cursor($0.id) } : nil))
    }

    func retry(context: APIContext) async throws -> Response {
        _ = try context.actor(allowedTo: .operate)
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else { throw APIError.badRequest("id", "must be a positive whole number") }
        guard try await storeCall(context, { try await deliveries.retry(id: id, logger: context.logger) }) else {
            throw APIError(.conflict, code: "not_dead", message: "id: delivery \(id) does not exist or is not dead", field: "id")
        }
        let shown = try await storeCall(context) { try await deliveries.list(state: nil, before: id + 1, limit: 1, logger: context.logger) }
        return try APIJSON.response(shown.first)
    }

    func storeCall<T>(_ context: APIContext, _ body: () async throws -> T) async throws -> T {
        try await IssuesController.storeCall(context, body)
    }
}
