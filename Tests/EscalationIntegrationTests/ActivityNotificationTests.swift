import EscalationCore
import EscalationDelivery
@testable import EscalationStore
import Foundation
import PostgresNIO
import Testing

extension IntegrationTests {
    /// People hear of what other people do: through the outbox, once per event, in the
    /// recipient's language, with a link to the issue's web page.
    @Suite("People hear of what other people do")
    struct ActivityNotificationTests {
        @Test("a member's direction reaches the agency; a resolution the unit's accounts and the member; a reopening and an extension the agency; notes notify nobody")
        func whoHearsWhat() async throws {
            try await AccountTests.withStore { accounts, database in
                let lan = try await AccountTests.account(accounts)
                let english = try await accounts.create(name: "Peter Hall", email: "peter@example.org", locale: .en, scope: Actor(kind: .unit, code: "N1"), logger: testLogger)
                let gone = try await accounts.create(name: "Đã nghỉ", email: "gone@example.org", locale: .vi, scope: Actor(kind: .unit, code: "N1"), logger: testLogger)
                _ = try await accounts.disable(id: gone.account.id, logger: testLogger)
                try await TestPostgres.insertIssues(database, count: 1)
                try await TestPostgres.withClient(database) { client in
                    let cache = RoutingTableCache()
                    _ = try await RoutingStore(client: client, cache: cache, instance: "test").routeOptimistically(limit: 10, logger: testLogger)
                    let lifecycle = LifecycleStore(client: client, cache: cache)
                    let member = Actor(kind: .member, code: "m-north"), agency = Actor(kind: .agency, code: "land-dept")
                    let minh = LifecycleStore.Person(accountID: 41, name: "Lê Văn Minh")
                    func rows() async throws -> [String] {
                        try await TestPostgres.strings(database, """
                            SELECT kind || ' ' || recipient_kind || ':' || recipient_code || ' ' || coalesce(data->>'account_name', '-')
                              FROM escalated.outbox WHERE kind NOT IN ('routed', 'invitation') ORDER BY id
                            """)
                    }
                    try await lifecycle.perform(.comment(kind: .note, text: "Ghi chú nội bộ"), issue: 1, actor: member, person: minh, logger: testLogger)
                    try await lifecycle.perform(.comment(kind: .guidance, text: "Cơ quan tự hướng dẫn"), issue: 1, actor: agency, logger: testLogger)
                    #expect(try await rows().isEmpty, "notes and the agency's own comments notify nobody")
                    try await lifecycle.perform(.comment(kind: .direction, text: "Khẩn trương kiểm tra"), issue: 1, actor: member, person: minh, logger: testLogger)
                    #expect(try await rows() == ["commented agency:land-dept Lê Văn Minh"])
                    try await lifecycle.perform(.resolve(resolution: "Đã cấp giấy"), issue: 1, actor: agency, logger: testLogger)
                    // One row per enabled account of the unit (not the disabled one), and the member (no email: parked dead).
                    let afterResolve = try await rows()
                    #expect(afterResolve == ["commented agency:land-dept Lê Văn Minh", "resolved person:m-north -",
                                             "resolved account:\(lan.id) -", "resolved account:\(english.account.id) -"], "\(afterResolve)")
                    try await lifecycle.perform(.reopen(reason: "Chưa xong"), issue: 1, actor: Actor(kind: .unit, code: "N1"),
                                                person: .init(accountID: lan.id, name: lan.name), logger: testLogger)
                    try await lifecycle.perform(.extend(deadline: .resolve, bySeconds: 3600, reason: "Chờ"), issue: 1,
                                                actor: Actor(kind: .supervisor, code: "office"), logger: testLogger)
                    #expect(try await rows().suffix(2) == ["reopened agency:land-dept Nguyễn Thị Lan", "deadline_extended agency:land-dept -"])

                    // The emails, as the deliverer composes them: each account in its language, a link to the page.
                    let leased = try await DeliveryStore(client: client, instance: "test").lease(channels: [.email], limit: 50, leaseSeconds: 60, logger: testLogger)
                    let directory = try await DirectoryStore(client: client).load(logger: testLogger).directory
                    let composer = MessageComposer(templates: try MessageTemplates.bundled(), publicURL: "https://escalated.example.org")
                    let from = try #require(MailAddress(name: "escalated", address: "escalated@example.org"))
                    func mail(_ kind: String, to code: String) throws -> MailMessage {
                        guard let item = leased.first(where: { $0.kind == kind && $0.recipientCode == code }) else {
                            throw TestFailure("no \(kind) message to \(code) was leased")
                        }
                        return try composer.email(for: item, directory: directory, from: from).get()
                    }
                    let toLan = try mail("resolved", to: "\(lan.id)")
                    #expect(toLan.to.map(\.address) == ["lan@example.org"])
                    #expect(toLan.subject.contains("Sở Nông nghiệp và Môi trường đã giải quyết"), "\(toLan.subject)")
                    #expect(toLan.text.contains("Đã cấp giấy") && toLan.text.contains("https://escalated.example.org/issues/1"), "\(toLan.text)")
                    let toPeter = try mail("resolved", to: "\(english.account.id)")
                    #expect(toPeter.text.hasPrefix("Dear Peter Hall,"), "\(toPeter.text)")
                    let direction = try mail("commented", to: "land-dept")
                    #expect(direction.subject.contains("Lê Văn Minh") && direction.text.contains("Khẩn trương kiểm tra"), "\(direction.subject)")
                    #expect(!leased.contains { $0.recipientKind == .person && $0.kind == "resolved" }, "the member without an address is parked, not leased")
                }
            }
        }
    }
}
