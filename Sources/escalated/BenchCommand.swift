import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure routing throughput and latency on a private PostgreSQL.")
    func run() async throws {}
}
