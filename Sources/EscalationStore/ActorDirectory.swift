import EscalationCore
import Logging
import PostgresNIO

/// Whether an actor names something of its kind in the directory, as tokens and accounts require.
enum ActorDirectory {
    /// True when the actor's code is a unit, an agency, a person in charge of an area (member) or a
    /// person (supervisor) in the stored directory; always true for admin, which names nothing.
    static func knows(_ actor: Actor, client: Database, logger: Logger) async throws -> Bool {
        let table: String? = switch actor.kind {
        case .unit: "units WHERE code = $1"
        case .agency: "agencies WHERE code = $1"
        case .member: "areas WHERE member_code = $1"
        case .supervisor: "people WHERE code = $1"
        case .admin: nil
        }
        guard let table else { return true }
        var check = PostgresBindings()
        check.append(actor.code ?? "")
        let known = try await client.query(PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM escalated.\(table))", binds: check), logger: logger)
            .decode(Bool.self).first { _ in true }
        return known == true
    }
}
