import EscalationCore
@testable import EscalationStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
@testable import EscalationWeb

/// What the web tests share: a directory shaped like the Lào Cai sample (built with the core's
/// initialisers: this target may not read YAML), issues as the store lists them, hostile values,
/// the repository's files, and a response's body.
enum WebFixtures {
    // MARK: The repository

    /// The repository's root, from this file's place (Tests/EscalationWebTests/).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func repositoryFile(_ path: String) throws -> String {
        try String(contentsOf: root.appending(path: path), encoding: .utf8)
    }

    static func repositoryFiles(in folder: String, suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appending(path: folder).path).filter { $0.hasSuffix(suffix) }.sorted()
    }

    // MARK: Hostile values

    static let script = "<script>alert(1)</script>"
    static let attribute = "\"><img src=x onerror=alert(1)>"
    /// The four of the brief in one value: a tag, a way out of an attribute, a quote, an ampersand.
    static let hostile = script + attribute + "'&"
    static let hostileEscaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;&amp;"

    /// Pieces of `hostile` that must never appear unescaped in a page.
    static let rawPieces = ["<script>alert", "</script>\"", "\"><img", "<img src=x", "onerror=alert(1)>", ">'&"]

    // MARK: A directory like the sample (deploy/directory/lao-cai.yaml)

    /// The sample's office hours: Monday to Friday 07:30-11:30 and 13:30-17:00 in Vietnam.
    static let officeHours: CalendarDefinition = {
        let day = [WorkingHours("07:30-11:30")!, WorkingHours("13:30-17:00")!]
        return CalendarDefinition(code: "lao-cai-office", timeZone: "Asia/Ho_Chi_Minh", weekly: [2: day, 3: day, 4: day, 5: day, 6: day],
                                  holidays: ["2025-09-01", "2025-09-02", "2026-01-01", "2026-04-30", "2026-05-01", "2026-09-01", "2026-09-02"].map { LocalDate($0)! })
    }()

    /// (area code, prefix of its unit codes, name, how many units, the first one a ward).
    private static let areaRows: [(String, String, String, Int, Bool)] = [
        ("lao-cai-city", "LCC", "Thành phố Lào Cai", 5, true), ("sa-pa", "SAPA", "Thị xã Sa Pa", 4, true),
        ("bat-xat", "BX", "Huyện Bát Xát", 6, false), ("muong-khuong", "MK", "Huyện Mường Khương", 5, false),
        ("si-ma-cai", "SMC", "Huyện Si Ma Cai", 4, false), ("bac-ha", "BH", "Huyện Bắc Hà", 6, false),
        ("bao-thang", "BT", "Huyện Bảo Thắng", 6, false), ("bao-yen", "BY", "Huyện Bảo Yên", 6, false),
        ("van-ban", "VB", "Huyện Văn Bàn", 6, false),
    ]

    static let sectorRows: [(String, String, String, String)] = [
        ("land", "Đất đai", "Land", "so-nong-nghiep-moi-truong"), ("environment", "Môi trường", "Environment", "so-nong-nghiep-moi-truong"),
        ("agriculture", "Nông nghiệp", "Agriculture", "so-nong-nghiep-moi-truong"), ("finance", "Tài chính, ngân sách", "Finance and budget", "so-tai-chinh"),
        ("health", "Y tế", "Health", "so-y-te"), ("education", "Giáo dục", "Education", "so-giao-duc"),
        ("organisation", "Tổ chức bộ máy, cán bộ", "Organisation and staff", "so-noi-vu"),
        ("construction", "Xây dựng, giao thông", "Construction and transport", "so-xay-dung"),
        ("justice", "Tư pháp, hộ tịch", "Justice and civil status", "so-tu-phap"),
        ("digital", "Hạ tầng số, dịch vụ công trực tuyến", "Digital infrastructure and online services", "so-khoa-hoc-cong-nghe"),
        ("culture-social", "Văn hóa, xã hội", "Culture and social affairs", "so-van-hoa"),
    ]

    /// 9 areas, 48 units, 11 sectors, 9 agencies, the office-hours calendar as the default: the
    /// sample's shape and names. Without `calendar`, no calendar at all (every hour counts).
    static func laoCai(calendar: Bool = true) -> Directory {
        var people: [Person] = [], areas: [Area] = [], units: [EscalationCore.Unit] = []
        for (code, prefix, name, count, wards) in areaRows {
            people.append(Person(code: "m-\(code)", name: "Ủy viên Ban Thường vụ phụ trách \(name) (mẫu)", email: "m-\(code)@example.org"))
            areas.append(Area(code: code, name: "\(name) (khu vực cũ)", member: "m-\(code)"))
            for n in 1...count {
                let ward = wards && (n == 1 || prefix == "LCC")
                let two = n < 10 ? "0\(n)" : "\(n)"
                units.append(EscalationCore.Unit(code: "LC-\(prefix)-\(two)", name: "\(ward ? "Phường" : "Xã") mẫu \(two) (\(name))",
                                                 kind: ward ? .ward : .commune, area: code))
            }
        }
        people += [Person(code: "vp-tinh-uy", name: "Văn phòng Tỉnh ủy (mẫu)", email: "van-phong-tinh-uy@example.org"),
                   Person(code: "vp-ubnd", name: "Văn phòng UBND tỉnh (mẫu)", email: "van-phong-ubnd@example.org")]
        let agencyNames = ["so-nong-nghiep-moi-truong": "Sở Nông nghiệp và Môi trường", "so-tai-chinh": "Sở Tài chính", "so-y-te": "Sở Y tế",
                           "so-giao-duc": "Sở Giáo dục và Đào tạo", "so-noi-vu": "Sở Nội vụ", "so-xay-dung": "Sở Xây dựng",
                           "so-tu-phap": "Sở Tư pháp", "so-khoa-hoc-cong-nghe": "Sở Khoa học và Công nghệ", "so-van-hoa": "Sở Văn hóa, Thể thao và Du lịch"]
        let agencies = agencyNames.keys.sorted().map { Agency(code: $0, name: agencyNames[$0]!, emails: ["\($0)@example.org"]) }
        let sectors = sectorRows.map {
            Sector(code: $0.0, nameVi: $0.1, nameEn: $0.2, agency: $0.3,
                   normal: Deadlines(acknowledgeSeconds: 4 * 3600, resolveSeconds: 40 * 3600), urgent: Deadlines(acknowledgeSeconds: 3600, resolveSeconds: 8 * 3600))
        }
        return Directory(
            people: people, areas: areas, units: units, agencies: agencies, sectors: sectors,
            calendars: calendar ? [officeHours] : [],
            groups: [SupervisorGroup(code: "standing-committee", name: "Giám sát của Ban Thường vụ (mẫu)", members: ["vp-tinh-uy", "vp-ubnd"])],
            chains: [EscalationChain(code: "standard", name: "Cơ quan → Ủy viên phụ trách → Ban Thường vụ", levels: [
                EscalationLevel(notify: [.agency], repeatEverySeconds: 2 * 3600, repeatTimes: 2),
                EscalationLevel(afterSeconds: 8 * 3600, notify: [.member]),
                EscalationLevel(afterSeconds: 8 * 3600, notify: [.group("standing-committee")]),
            ])],
            defaults: EscalationDefaults(calendar: calendar ? "lao-cai-office" : nil, chain: "standard"))
    }

    // MARK: Issues

    /// An issue as a list returns it (no assignments or history), through the store's memberwise
    /// initialiser (internal: reached with `@testable import EscalationStore`).
    static func issue(id: Int64, unit: String = "LC-SAPA-01", sector: String = "land", severity: Severity = .normal,
                      title: String = "Đường ống nước sinh hoạt bị vỡ", state: IssueState = .routed,
                      createdAt: Date = Date(timeIntervalSince1970: 1_796_000_000), dueAt: Date?, level: Int = 0) -> IssueRecord {
        IssueRecord(id: id, unit: unit, sector: sector, severity: severity, title: title, description: "Mô tả chi tiết", reporter: nil,
                    origin: .web, state: state, version: 1, createdAt: createdAt, routedAt: createdAt, updatedAt: createdAt,
                    deadlines: DeadlinesRecord(acknowledgeDueAt: dueAt, resolveDueAt: dueAt, dueAt: dueAt, overdue: false, acknowledgedAt: nil, resolvedAt: nil),
                    escalation: EscalationRecord(chain: "standard", level: level, next: nil), assignments: nil, events: nil)
    }

    // MARK: Responses

    /// A response's body as text.
    static func body(_ response: Response) async throws -> String {
        let collector = Collector()
        try await response.body.write(CollectingWriter(collector: collector))
        return String(buffer: collector.buffer)
    }

    private final class Collector: @unchecked Sendable {
        var buffer = ByteBuffer()
    }

    private struct CollectingWriter: ResponseBodyWriter {
        let collector: Collector
        mutating func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            collector.buffer.writeBuffer(&buffer)
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
