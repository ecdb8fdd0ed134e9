// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "escalated",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "escalated", targets: ["escalated"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3" ..< "5.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // The directory upload form of the web app (multipart/form-data).
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
    ],
    targets: [
        // The domain and every decision: routing, deadlines on working-hours calendars, escalation
        // steps, the issue lifecycle (action x state x actor -> change), access rights. No I/O.
        .target(
            name: "EscalationCore",
            swiftSettings: swiftSettings
        ),
        // The directory file: YAML in (checked, problems by line) and out. No database.
        .target(
            name: "EscalationYAML",
            dependencies: [
                "EscalationCore",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Starts and stops a private PostgreSQL cluster (demo, tests, bench).
        .target(
            name: "PostgresCluster",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL: migrations, the directory, intake, routing and escalation claims, the
        // lifecycle's writes, the outbox (its one writer), tokens, wake-up topics.
        .target(
            name: "EscalationStore",
            dependencies: [
                "EscalationCore",
                "EscalationYAML",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // The pool that follows the primary is a service, with a counter of its switches.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                // Passwords of web accounts (bcrypt, run on NIOThreadPool).
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedFiles"]
        ),
        // Messages: composing them from an outbox item (templates, email, webhook body) and
        // sending them (the SMTP client, webhooks, the file transport).
        .target(
            name: "EscalationDelivery",
            dependencies: [
                "EscalationCore",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedFiles"]
        ),
        // The web app: server-rendered pages for the people (sign-in, lists, the issue page, forms,
        // administration) and their live updates (Server-Sent Events), over the core and the stores.
        .target(
            name: "EscalationWeb",
            dependencies: [
                "EscalationCore",
                "EscalationYAML",
                "EscalationStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings,
            // EmbedFiles: web/pages/*.mustache (the pages) and web/static/ (one stylesheet, one script).
            plugins: ["EmbedFiles"]
        ),
        // The daemon: a service per loop (listener, router, escalator, deliverer, digests), the
        // HTTP API generated from api/openapi.yaml, configuration, wiring.
        .target(
            name: "EscalationServer",
            dependencies: [
                "EscalationCore",
                "EscalationYAML",
                "EscalationStore",
                "EscalationDelivery",
                "EscalationWeb",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings,
            // EmbedFiles: the sample directory and the OpenAPI document. OpenAPIGenerator: the API's
            // types and server protocol, from the contract (openapi.yaml, a link to api/openapi.yaml).
            plugins: ["EmbedFiles", .plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // The shipped benchmark (`escalated bench`): scenarios against the real daemon on a private PostgreSQL.
        .target(
            name: "EscalationBench",
            dependencies: [
                "EscalationCore",
                "EscalationStore",
                "EscalationServer",
                "PostgresCluster",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings,
            // EmbedFiles: tools/smtp_server.py, the SMTP server of the email scenario.
            plugins: ["EmbedFiles"]
        ),
        // Build-time helper: embeds sql/, deploy/directory/, api/, templates/ and tools/ files into the binary.
        .executableTarget(name: "embed-files", path: "Sources/embed-files"),
        .plugin(name: "EmbedFiles", capability: .buildTool(), dependencies: ["embed-files"]),
        // The thin executable: argument parsing, then a call into the targets above.
        .executableTarget(
            name: "escalated",
            dependencies: [
                "EscalationCore",
                "EscalationYAML",
                "EscalationStore",
                "EscalationServer",
                "EscalationWeb",
                "EscalationBench",
                "PostgresCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the test targets share (reading mail headers as a mail reader does).
        .target(
            name: "EscalationTestSupport",
            path: "Tests/EscalationTestSupport",
            swiftSettings: swiftSettings
        ),
        // The core's decisions, without a database.
        .testTarget(
            name: "EscalationCoreTests",
            dependencies: ["EscalationCore", "EscalationTestSupport"],
            swiftSettings: swiftSettings
        ),
        // Composing messages (emails, digests, webhook bodies) from outbox items, without a database.
        .testTarget(
            name: "EscalationDeliveryTests",
            dependencies: ["EscalationCore", "EscalationDelivery", "EscalationTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // The web app's rendering and parsing (pages, escaping, forms, list queries, CSV), without a database.
        .testTarget(
            name: "EscalationWebTests",
            dependencies: ["EscalationCore", "EscalationStore", "EscalationWeb", "EscalationTestSupport",
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Everything against a real PostgreSQL, SMTP server, HTTP and the real executable.
        .testTarget(
            name: "EscalationIntegrationTests",
            dependencies: [
                "EscalationCore",
                "EscalationYAML",
                "EscalationStore",
                "EscalationServer",
                "EscalationWeb",
                "EscalationDelivery",
                "EscalationTestSupport",
                "PostgresCluster",
                "escalated",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
