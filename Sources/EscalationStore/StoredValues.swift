public import EscalationCore
public import NIOCore
public import PostgresNIO

/// A domain enumeration stored as its text value: it binds straight into queries and decodes
/// straight from rows. A stored value the type does not know fails the decoding loudly (a
/// `PostgresDecodingError` naming the column) instead of falling back to a default.
///
/// The enumerations are also `Codable`, which would make PostgresNIO read them as JSON; this
/// protocol's implementations, being more specific, read and write the plain text.
public protocol PostgresTextEnum: RawRepresentable, PostgresCodable where RawValue == String {}

extension PostgresTextEnum {
    public static var psqlType: PostgresDataType { String.psqlType }
    public static var psqlFormat: PostgresFormat { String.psqlFormat }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        rawValue.encode(into: &byteBuffer, context: context)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(from byteBuffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
                                                  context: PostgresDecodingContext<JSONDecoder>) throws {
        let text = try String(from: &byteBuffer, type: type, format: format, context: context)
        guard let value = Self(rawValue: text) else { throw PostgresDecodingError.Code.failure }
        self = value
    }
}

extension Severity: PostgresTextEnum {}
extension IssueState: PostgresTextEnum {}
extension IssueOrigin: PostgresTextEnum {}
extension TargetKind: PostgresTextEnum {}
extension AssignmentRole: PostgresTextEnum {}
extension DeliveryChannel: PostgresTextEnum {}
extension ActorKind: PostgresTextEnum {}
extension PersonLocale: PostgresTextEnum {}
extension UnitKind: PostgresTextEnum {}
extension ReportKind: PostgresTextEnum {}
