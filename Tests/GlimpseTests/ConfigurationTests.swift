import GlimpseApp
import GlimpseCore
import GlimpseStore
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
        #expect(c.stores.map(\.id) == ["file", "http"])
        #expect(c.stores.first?.options["filesystem_store_datadir"] == "/var/lib/glance/images/")
    }

    @Test func scrubberOptionsAreGlances() throws {
        let defaults = try GlimpseConfiguration.load(file: nil, environment: [:], flags: [:])
        #expect(!defaults.service.delayedDelete && defaults.scrubber.scrubTime == 0 && defaults.scrubber.wakeupTime == 300)
        #expect(defaults.scrubber.poolSize == 1 && defaults.scrubber.runInAPI)
        let ini = try INIFile(parsing: """
            [DEFAULT]
            delayed_delete = True
            scrub_time = 43200
            wakeup_time = 60
            scrub_pool_size = 4
            glimpse_scrubber_in_api = false
            """)
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        #expect(c.service.delayedDelete && c.scrubber.scrubTime == 43200 && c.scrubber.wakeupTime == 60)
        #expect(c.scrubber.poolSize == 4 && !c.scrubber.runInAPI)
        for bad in ["delayed_delete = maybe", "scrub_time = -1", "scrub_pool_size = 0", "wakeup_time = soon"] {
            #expect(throws: ConfigurationError.self, "\(bad)") {
                try GlimpseConfiguration.load(file: try INIFile(parsing: "[DEFAULT]\n\(bad)\n"), environment: [:], flags: [:])
            }
        }
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
        #expect(c.stores.first?.options["filesystem_store_datadir"] == "data/images")
        #expect(c.defaultStoreID == "file" && !c.multiStore)
        #expect(c.service.imageSizeCap == 1 << 40)
    }

    @Test func readsGlanceMultiStoreSections() throws {
        let ini = try INIFile(parsing: """
            [DEFAULT]
            enabled_backends = fs:file, fast:file, web:http
            [glance_store]
            default_backend = fast
            [fs]
            filesystem_store_datadir = /a
            store_description = Slow disks
            weight = 50
            [fast]
            filesystem_store_datadir = /b
            """)
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        #expect(c.defaultStoreID == "fast" && c.multiStore)
        #expect(c.stores.map(\.id) == ["fs", "fast", "web"])
        #expect(c.stores.map(\.type) == ["file", "file", "http"])
        #expect(c.stores[0].description == "Slow disks" && c.stores[0].weight == 50 && c.stores[1].weight == 0)
        #expect(c.stores[1].options["filesystem_store_datadir"] == "/b")
        #expect(c.service.storeDetails.map(\.id) == ["fs", "fast", "web"])
        #expect(c.service.storeDetails.map(\.readOnly) == [false, false, true])
    }

    @Test func singleStoreLegacyOptions() throws {
        let ini = try INIFile(parsing: "[glance_store]\nstores = file, http, swift\ndefault_store = swift\nswift_store_container = g\n")
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        #expect(c.defaultStoreID == "swift")
        #expect(c.stores.map(\.id) == ["file", "http", "swift"])
        #expect(c.stores[2].options["swift_store_container"] == "g")
    }

    @Test func storeConfigurationMistakesStopStartUp() throws {
        for text in [
            "[DEFAULT]\nenabled_backends = a:file, b:rbd\n[a]\nfilesystem_store_datadir = /a\n",
            "[DEFAULT]\nenabled_backends = a:file\n[glance_store]\ndefault_backend = nope\n",
            "[DEFAULT]\nenabled_backends = a:file, a:file\n",
            "[DEFAULT]\nenabled_backends = web:http\n",
            "[DEFAULT]\nenabled_backends = a:file\n[a]\nweight = heavy\n",
            "[glance_store]\ndefault_store = http\n",
            "[glance_store]\ndefault_store = cinder\n",
        ] {
            #expect(throws: (any Error).self, "\(text)") {
                try GlimpseConfiguration.load(file: INIFile(parsing: text), environment: [:], flags: [:])
            }
        }
    }

    /// oslo.config's MultiStrOpt: `filesystem_store_datadirs` may be given on several lines.
    @Test func repeatedDataDirectoryLinesAccumulate() throws {
        let ini = try INIFile(parsing: "[glance_store]\nfilesystem_store_datadirs = /a:100\nfilesystem_store_datadirs = /b:200\n")
        #expect(ini["glance_store.filesystem_store_datadirs"] == "/a:100\n/b:200")
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
