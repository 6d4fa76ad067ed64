import GlimpseApp
import GlimpseCore
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesGlanceStyleINI() throws {
        let ini = try INIFile(parsing: """
            # comment
            [DEFAULT]
            bind_host = 127.0.0.1
            bind_port=9393
            ; other comment
            [database]
            connection = sqlite:////var/lib/glance/glance.db
            [glance_store]
            default_store = file
            filesystem_store_datadir = /var/lib/glance/images/
            """)
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        #expect(c.bindHost == "127.0.0.1" && c.bindPort == 9393)
        #expect(try c.sqlitePath() == "/var/lib/glance/glance.db")
        #expect(c.fileStores.first?.dataDir == "/var/lib/glance/images/")
    }

    @Test func precedenceIsFileThenEnvironmentThenFlags() throws {
        let ini = try INIFile(parsing: "[DEFAULT]\nbind_port = 1\nimage_size_cap = 10\n")
        let env = ["GLIMPSE_BIND_PORT": "2", "GLIMPSE_IMAGE_SIZE_CAP": "20"]
        let c = try GlimpseConfiguration.load(file: ini, environment: env, flags: ["bind-port": "3"])
        #expect(c.bindPort == 3)
        #expect(c.service.imageSizeCap == 20)
    }

    @Test func defaultsNeedNoConfiguration() throws {
        let c = try GlimpseConfiguration.load(file: nil, environment: [:], flags: [:])
        #expect(c.bindPort == 9292)
        #expect(try c.sqlitePath() == "data/glimpse.db")
        #expect(c.fileStores.first?.dataDir == "data/images")
        #expect(c.service.imageSizeCap == 1 << 40)
    }

    @Test func readsGlanceMultiStoreSections() throws {
        let ini = try INIFile(parsing: """
            [DEFAULT]
            enabled_backends = fs:file, fast:file
            [glance_store]
            default_backend = fast
            [fs]
            filesystem_store_datadir = /a
            [fast]
            filesystem_store_datadir = /b
            """)
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        #expect(c.defaultStoreID == "fast")
        #expect(c.fileStores.map(\.id) == ["fs", "fast"])
    }

    @Test func refusesWhatItCannotDo() throws {
        #expect(throws: (any Error).self) { try INIFile(parsing: "[broken\n") }
        #expect(throws: (any Error).self) { try INIFile(parsing: "novalue\n") }
        #expect(throws: (any Error).self) { try GlimpseConfiguration.load(file: nil, environment: [:], flags: ["bind-port": "x"]) }
        #expect(throws: (any Error).self) {
            try GlimpseConfiguration.load(file: INIFile(parsing: "[paste_deploy]\nflavor = keystone\n"), environment: [:], flags: [:])
        }
        let pg = try GlimpseConfiguration.load(file: INIFile(parsing: "[database]\nconnection = postgresql://u@h/db\n"), environment: [:], flags: [:])
        #expect(throws: (any Error).self) { try pg.sqlitePath() }
    }
}
