import EscalationCore
import EscalationStore
import Foundation
import OpenAPIRuntime

// What the stores hold, as the contract's generated types. Enumerations map by their raw values;
// APIValuesTests checks that every domain case has its counterpart in the document.

extension Components.Schemas.Issue {
    init(_ record: IssueRecord) {
        self.init(
            id: record.id,
            unit: record.unit,
            sector: record.sector,
            severity: .init(record.severity),
            title: record.title,
            description: record.description,
            reporter: record.reporter,
            origin: .init(record.origin),
            state: .init(record.state),
            version: record.version,
            createdAt: record.createdAt,
            routedAt: record.routedAt,
            updatedAt: record.updatedAt,
            deadlines: .init(
                acknowledgeDueAt: record.deadlines.acknowledgeDueAt,
                resolveDueAt: record.deadlines.resolveDueAt,
                dueAt: record.deadlines.dueAt,
                overdue: record.deadlines.overdue,
                acknowledgedAt: record.deadlines.acknowledgedAt,
                resolvedAt: record.deadlines.resolvedAt
            ),
            escalation: .init(
                chain: record.escalation.chain,
                level: record.escalation.level,
                next: record.escalation.next.map { .init(level: $0.level, _repeat: $0.repeat, at: $0.at) }
            ),
            assignments: record.assignments?.map {
                .init(kind: .init($0.kind), code: $0.code, role: .init($0.role), rule: $0.rule, assignedAt: $0.assignedAt)
            },
            events: record.events?.map {
                .init(id: $0.id, kind: $0.kind, actor: $0.actor, at: $0.at, data: OpenAPIValueContainer($0.data))
            }
        )
    }
}

extension Components.Schemas.Severity {
    init(_ value: Severity) {
        self = Self(rawValue: value.rawValue) ?? .normal
    }
}

extension Components.Schemas.Issue.OriginPayload {
    init(_ value: IssueOrigin) {
        self = Self(rawValue: value.rawValue) ?? .sql
    }
}

extension Components.Schemas.State {
    init(_ value: IssueState) {
        self = Self(rawValue: value.rawValue) ?? .reported
    }
}

extension Components.Schemas.Assignment.KindPayload {
    init(_ value: TargetKind) {
        self = Self(rawValue: value.rawValue) ?? .agency
    }
}

extension Components.Schemas.Assignment.RolePayload {
    init(_ value: AssignmentRole) {
        self = Self(rawValue: value.rawValue) ?? .watcher
    }
}

extension OpenAPIValueContainer {
    /// An event's payload, as it was stored (whole numbers stay whole).
    init(_ value: JSONValue) {
        func plain(_ value: JSONValue) -> (any Sendable)? {
            switch value {
            case .null: return nil
            case .bool(let bool): return bool
            case .number(let number):
                if number.rounded() == number, abs(number) < 9e15 { return Int(number) }
                return number
            case .string(let string): return string
            case .array(let items): return items.map(plain)
            case .object(let fields): return fields.mapValues(plain)
            }
        }
        // Every value `plain` makes is one OpenAPIValueContainer takes.
        self = (try? OpenAPIValueContainer(unvalidatedValue: plain(value))) ?? (try? OpenAPIValueContainer(unvalidatedValue: nil)) ?? .init(nilLiteral: ())
    }
}

extension Components.Schemas.Summary {
    init(_ summary: ReportStore.Summary) {
        func rows(_ rows: [ReportStore.Row]) -> [Components.Schemas.SummaryRow] {
            rows.map {
                .init(code: $0.code, received: $0.received, acknowledgedOnTime: $0.acknowledgedOnTime, resolvedOnTime: $0.resolvedOnTime,
                      overdue: $0.overdue,
                      acknowledgeSeconds: .init(median: $0.acknowledgeSeconds.median, p90: $0.acknowledgeSeconds.p90),
                      resolveSeconds: .init(median: $0.resolveSeconds.median, p90: $0.resolveSeconds.p90),
                      acknowledgeWorkingSeconds: .init(value1: .init(median: $0.acknowledgeWorkingSeconds.median, p90: $0.acknowledgeWorkingSeconds.p90)),
                      resolveWorkingSeconds: .init(value1: .init(median: $0.resolveWorkingSeconds.median, p90: $0.resolveWorkingSeconds.p90)))
            }
        }
        self.init(from: summary.from, to: summary.to, units: rows(summary.units), areas: rows(summary.areas), agencies: rows(summary.agencies),
                  sectors: rows(summary.sectors))
    }
}

extension Components.Schemas.Token {
    init(_ token: TokenStore.Token) {
        self.init(id: token.id, actor: token.actor, name: token.name, createdAt: token.createdAt,
                  expiresAt: token.expiresAt, lastUsedAt: token.lastUsedAt, revokedAt: token.revokedAt)
    }
}

extension Components.Schemas.Delivery {
    init(_ delivery: DeliveryStore.Delivery) {
        self.init(id: delivery.id, issueId: delivery.issueID, kind: delivery.kind, recipient: delivery.recipient,
                  channel: ChannelPayload(rawValue: delivery.channel) ?? .none, state: StatePayload(rawValue: delivery.state) ?? .pending,
                  attempts: delivery.attempts, lastAnswer: delivery.lastAnswer, transport: delivery.transport,
                  createdAt: delivery.createdAt, nextAttemptAt: delivery.nextAttemptAt, sentAt: delivery.sentAt)
    }
}

/// The API's times: RFC 3339 in UTC with milliseconds, as the document says.
struct APIDateTranscoder: DateTranscoder {
    func encode(_ date: Date) throws -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    func decode(_ string: String) throws -> Date {
        if let date = try? Date(string, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try Date(string, strategy: .iso8601)
    }
}
