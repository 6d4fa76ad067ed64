import Foundation
import GlimpseCatalog
import GlimpseDomain
import Testing

/// What only the PostgreSQL executor has: migrations from several nodes at once, the statement
/// timeout, and errors that say nothing of SQL. Runs when `GLIMPSE_PG_URL` names a server
/// (`scripts/test.sh` starts one); `CatalogConformanceTests` covers the catalog contract itself.
@Suite struct PostgresCatalogTests {
    @Test func severalNodesMigratingAtOnceAllSucceed() async throws {
        guard let schema = try await PostgresTestSchema.create() else { return }
        do {
            // Four "nodes", each with its own pool, start on an empty schema at the same moment.
            var options = PostgresExecutor.Options()
            options.searchPath = schema.name
            var nodes: [PostgresExecutor] = []
            for _ in 0..<4 { nodes.append(try await PostgresExecutor.open(url: schema.url, options: options)) }
            let executors = nodes
            try await withThrowingTaskGroup(of: Void.self) { group in
                for executor in executors { group.addTask { try await SQLCatalog(executor: executor).migrate() } }
                try await group.waitForAll()
            }
            let version = try await schema.executor.query("SELECT version_num FROM alembic_version", [])
            #expect(version.map { $0["version_num"].string } == ["2024_1_contract01"], "one alembic row")
            let tables = try await schema.executor.query(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ?", [.text(schema.name)])
            #expect(tables.first?["n"].int == 17, "Glance's 16 tables and glimpse_write_leases")
            // The schema is Glance's: SERIAL ids, timestamps without time zone, booleans.
            let columns = try await schema.executor.query(
                "SELECT column_name, data_type, column_default FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [.text(schema.name), .text("image_properties")])
            let types = Dictionary(uniqueKeysWithValues: columns.map { ($0["column_name"].string ?? "", $0["data_type"].string ?? "") })
            #expect(types["created_at"] == "timestamp without time zone")
            #expect(types["deleted"] == "boolean")
            #expect(columns.first { $0["column_name"].string == "id" }?["column_default"].string?.hasPrefix("nextval(") == true)
            // images.visibility is Glance's enum type, as SQLAlchemy makes it.
            let visibility = try await schema.executor.query(
                "SELECT udt_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?",
                [.text(schema.name), .text("images"), .text("visibility")])
            #expect(visibility.first?["udt_name"].string == "image_visibility")
            for node in nodes { try await node.close() }
        } catch {
            await schema.drop()
            throw error
        }
        try await schema.executor.close()
        await schema.drop()
    }

    @Test func aStatementOverTheTimeoutIsCancelledAsUnavailable() async throws {
        guard let url = PostgresTestSchema.url else { return }
        var options = PostgresExecutor.Options()
        options.statementTimeout = .milliseconds(200)
        let executor = try await PostgresExecutor.open(url: url, options: options)
        do {
            _ = try await executor.query("SELECT pg_sleep(2)", [])
            Issue.record("a 2 s statement outlived a 200 ms statement_timeout")
        } catch let error as GlimpseError {
            #expect(error.code == .unavailable)
            #expect(!error.message.contains("pg_sleep") && !error.message.lowercased().contains("select"), "no SQL in the message")
        }
        // The connection is usable afterwards.
        #expect(try await executor.query("SELECT 1 AS one", []).first?["one"].int == 1)
        try await executor.close()
    }

    @Test func errorsCarryNoSQL() async throws {
        guard let url = PostgresTestSchema.url else { return }
        let executor = try await PostgresExecutor.open(url: url)
        do {
            _ = try await executor.query("SELECT no_such_column FROM no_such_table WHERE x = ?", [.text("secret")])
            Issue.record("a broken query succeeded")
        } catch let error as GlimpseError {
            #expect(error.code == .internal)
            #expect(error.message == "The image catalog failed.")
        }
        try await executor.close()
    }

    @Test func anUnreachableServerFailsAtOpenAsUnavailable() async throws {
        var options = PostgresExecutor.Options()
        options.statementTimeout = .milliseconds(500)
        options.connectTimeout = .milliseconds(500)
        do {
            // Port 1 on loopback: nothing listens there.
            _ = try await PostgresExecutor.open(url: "postgresql://glimpse:pw@127.0.0.1:1/glimpse", options: options)
            Issue.record("opening an unreachable server succeeded")
        } catch let error as GlimpseError {
            #expect(error.code == .unavailable)
            #expect(!error.message.contains("pw"), "no credentials in the message")
        }
    }
}
