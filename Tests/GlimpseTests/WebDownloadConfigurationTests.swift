import GlimpseApp
import GlimpseStore
import GlimpseStoreDrivers
import NIOCore
import Testing

/// `[import_filtering_opts]` as glance-api.conf spells it, plus Glimpse's additions.
@Suite struct WebDownloadConfigurationTests {
    @Test func defaultsAreGlances() throws {
        let c = try GlimpseConfiguration.load(file: nil, environment: [:], flags: [:]).webDownload
        #expect(c.filtering == ImportFilteringOptions())
        #expect(c.filtering.allowedSchemes == ["http", "https"] && c.filtering.allowedPorts == [80, 443])
        #expect(!c.filtering.allowPrivateNetworks && c.maxRedirects == 5 && c.attempts == 5)
        #expect(c.connectTimeout == .seconds(30) && c.readTimeout == .seconds(60))
    }

    @Test func readsListsAndGlimpseOptions() throws {
        let ini = try INIFile(parsing: """
            [import_filtering_opts]
            allowed_schemes = [HTTPS]
            allowed_hosts = images.example.com, 127.0.0.1
            disallowed_hosts = evil.example.com
            allowed_ports =
            disallowed_ports = 22,25
            glimpse_allow_private_networks = true
            glimpse_read_timeout = 5
            glimpse_max_redirects = 2
            """)
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:]).webDownload
        #expect(c.filtering.allowedSchemes == ["https"])
        #expect(c.filtering.allowedHosts == ["images.example.com", "127.0.0.1"])
        #expect(c.filtering.disallowedHosts == ["evil.example.com"])
        #expect(c.filtering.allowedPorts.isEmpty && c.filtering.disallowedPorts == [22, 25])
        #expect(c.filtering.allowPrivateNetworks && c.readTimeout == .seconds(5) && c.maxRedirects == 2)
        let env = try GlimpseConfiguration.load(file: ini, environment: ["GLIMPSE_ALLOWED_PORTS": "8080"], flags: [:])
        #expect(env.webDownload.filtering.allowedPorts == [8080])
    }

    @Test func mistakesStopStartUp() {
        for (key, value) in [("allowed-ports", "http"), ("disallowed-ports", "70000"), ("glimpse-allow-private-networks", "maybe"),
                             ("glimpse-read-timeout", "0"), ("glimpse-download-attempts", "x")] {
            #expect(throws: (any Error).self, "\(key)=\(value)") {
                try GlimpseConfiguration.load(file: nil, environment: [:], flags: [key: value])
            }
        }
    }
}
