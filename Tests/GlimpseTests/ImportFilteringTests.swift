import GlimpseDomain
import GlimpseStore
import Testing

/// The pure part of web-download's safety: URL parsing, address spellings and classes, and the
/// `[import_filtering_opts]` lists.
@Suite struct ImportFilteringTests {
    let defaults = ImportFilteringOptions()

    func refusal(_ url: String, _ options: ImportFilteringOptions = .init()) -> String? {
        do {
            try options.validate(url)
            return nil
        } catch let e as GlimpseError {
            #expect(e.code == .badRequest)
            return e.message
        } catch {
            Issue.record("unexpected \(error)")
            return "\(error)"
        }
    }

    @Test func canonicalIPv4Only() {
        #expect(IPAddress.parseIPv4("127.0.0.1") == 0x7f00_0001)
        #expect(IPAddress.parseIPv4("255.255.255.255") == 0xffff_ffff)
        for bad in ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.0.0.01", "256.0.0.1", "1.2.3.4.5", "1..2.3", "", "1.2.3.-4"] {
            #expect(IPAddress.parseIPv4(bad) == nil, "\(bad)")
        }
    }

    @Test func ipv6ParsingAndCanonicalText() {
        #expect(IPAddress("::1")?.description == "::1")
        #expect(IPAddress("[::1]")?.description == "::1")
        #expect(IPAddress("2001:DB8:0:0:0:0:0:1")?.description == "2001:db8::1")
        #expect(IPAddress("2001:db8:0:1:0:0:0:1")?.description == "2001:db8:0:1::1")
        #expect(IPAddress("::ffff:127.0.0.1")?.unmapped == .v4(0x7f00_0001))
        #expect(IPAddress("::ffff:7f00:1")?.unmapped.description == "127.0.0.1")
        for bad in ["1::2::3", "12345::", "fe80::1%eth0", "::ffff:127.1", "1:2:3:4:5:6:7:8:9", ":::", "g::1"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func addressKinds() {
        let cases: [(String, IPAddress.Kind)] = [
            ("127.0.0.1", .loopback), ("127.255.0.9", .loopback), ("::1", .loopback), ("::ffff:127.0.0.1", .loopback),
            ("169.254.169.254", .linkLocal), ("fe80::1", .linkLocal),
            ("10.0.0.1", .private), ("172.16.0.1", .private), ("172.31.255.255", .private), ("192.168.1.1", .private),
            ("100.64.0.1", .private), ("100.100.100.200", .private), ("fd00:ec2::254", .private), ("fc00::1", .private),
            ("0.0.0.0", .unspecified), ("::", .unspecified), ("224.0.0.1", .multicast), ("ff02::1", .multicast),
            ("255.255.255.255", .reserved), ("192.0.0.192", .reserved), ("::127.0.0.1", .reserved),
            ("64:ff9b::7f00:1", .loopback), ("2002:a9fe:a9fe::1", .linkLocal),
            ("8.8.8.8", .global), ("172.32.0.1", .global), ("100.128.0.1", .global), ("2001:4860::8888", .global),
        ]
        for (text, kind) in cases {
            #expect(IPAddress(text)?.kind == kind, "\(text)")
        }
    }

    @Test func refusesLoopbackLinkLocalPrivateAndOddSpellings() {
        #expect(refusal("http://127.0.0.1/x")?.contains("loopback") == true)
        #expect(refusal("http://[::1]/x")?.contains("loopback") == true)
        #expect(refusal("http://[::ffff:127.0.0.1]/x")?.contains("loopback") == true)
        #expect(refusal("http://169.254.169.254/latest/meta-data/")?.contains("link-local") == true)
        #expect(refusal("http://10.0.0.1/x")?.contains("private") == true)
        #expect(refusal("http://172.16.0.1/x")?.contains("private") == true)
        #expect(refusal("http://192.168.1.1/x")?.contains("private") == true)
        #expect(refusal("http://100.64.0.1/x")?.contains("private") == true)
        #expect(refusal("http://0.0.0.0/x")?.contains("unspecified") == true)
        for spelling in ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "0x7f000001", "127.0.0.0x1", "example.0x10"] {
            #expect(refusal("http://\(spelling)/x")?.contains("not a canonical IPv4 address") == true, "\(spelling)")
        }
        #expect(refusal("http://8.8.8.8/x") == nil)
        #expect(refusal("https://images.example.com/cirros.img") == nil)
        #expect(refusal("http://images.example.com.:80/a?b=c#frag") == nil)
    }

    @Test func privateNetworksOnlyWhenAllowed() {
        let open = ImportFilteringOptions(allowPrivateNetworks: true)
        #expect(refusal("http://10.0.0.1/x", open) == nil)
        #expect(refusal("http://[fd00::1]/x", open) == nil)
        #expect(refusal("http://127.0.0.1/x", open)?.contains("loopback") == true)
        #expect(refusal("http://169.254.169.254/x", open)?.contains("link-local") == true)
    }

    @Test func schemesAndPorts() {
        #expect(refusal("file:///etc/passwd")?.contains("scheme 'file' is not allowed") == true)
        #expect(refusal("ftp://example.com/x")?.contains("scheme 'ftp' is not allowed") == true)
        #expect(refusal("gopher://example.com/x") != nil)
        #expect(refusal("http://example.com:8080/x")?.contains("port 8080 is not allowed") == true)
        #expect(refusal("https://example.com:443/x") == nil)
        // A scheme the lists allow but no fetcher speaks.
        let ftpAllowed = ImportFilteringOptions(allowedSchemes: ["http", "ftp"], allowedPorts: [])
        #expect(refusal("ftp://example.com/x", ftpAllowed)?.contains("only http and https") == true)
        // The disallowed list applies only when the allowed list is empty.
        let noHTTP = ImportFilteringOptions(allowedSchemes: [], disallowedSchemes: ["http"])
        #expect(refusal("http://example.com/x", noHTTP) != nil)
        #expect(refusal("https://example.com/x", noHTTP) == nil)
        let portsBoth = ImportFilteringOptions(allowedPorts: [8080], disallowedPorts: [8080, 443])
        #expect(refusal("http://example.com:8080/x", portsBoth) == nil)
        #expect(refusal("https://example.com/x", portsBoth)?.contains("port 443") == true)
        let portsDenied = ImportFilteringOptions(allowedPorts: [], disallowedPorts: [8080])
        #expect(refusal("http://example.com:8080/x", portsDenied) != nil)
        #expect(refusal("http://example.com:8081/x", portsDenied) == nil)
    }

    @Test func hostListsAndPrecedence() {
        let allowOnly = ImportFilteringOptions(allowedHosts: ["images.example.com", "127.0.0.1", "::1"], disallowedHosts: ["images.example.com"])
        #expect(refusal("http://images.example.com/x", allowOnly) == nil, "the allowed list wins over the disallowed one")
        #expect(refusal("http://IMAGES.example.com./x", allowOnly) == nil)
        #expect(refusal("http://other.example.com/x", allowOnly)?.contains("host 'other.example.com' is not allowed") == true)
        // An allowed host may be loopback; its other spellings are still refused.
        #expect(refusal("http://127.0.0.1/x", allowOnly) == nil)
        #expect(refusal("http://[::1]/x", allowOnly) == nil)
        #expect(refusal("http://[::ffff:127.0.0.1]/x", allowOnly) == nil, "an IPv4-mapped address is its IPv4 address")
        #expect(refusal("http://127.1/x", allowOnly) != nil)
        #expect(refusal("http://0x7f.1/x", allowOnly) != nil)
        let deny = ImportFilteringOptions(disallowedHosts: ["evil.example.com", "8.8.8.8"])
        #expect(refusal("http://evil.example.com/x", deny)?.contains("not allowed") == true)
        #expect(refusal("http://8.8.8.8/x", deny) != nil)
        #expect(refusal("http://good.example.com/x", deny) == nil)
    }

    @Test func malformedURLs() {
        #expect(refusal("")?.contains("empty") == true)
        #expect(refusal("example.com/x") != nil)
        #expect(refusal("http:///x")?.contains("no host") == true)
        #expect(refusal("http://user:pw@example.com/x")?.contains("credentials") == true)
        #expect(refusal("http://example.com:0/x")?.contains("port") == true)
        #expect(refusal("http://example.com:99999/x")?.contains("port") == true)
        #expect(refusal("http://exa mple.com/x")?.contains("spaces") == true)
        #expect(refusal("http://exa\u{0}mple.com/x") != nil)
        #expect(refusal("http://bücher.example/x")?.contains("non-ASCII") == true)
        #expect(refusal("http://[::1/x") != nil)
        #expect(refusal("http://[fe80::1%25eth0]/x") != nil)
        #expect(refusal("http://-_!.example.com/x") != nil)
    }

    @Test func partsAndRedirectResolution() throws {
        let u = try ImportURL.parse("HTTP://Example.COM:8080/a/b?c=d#e")
        #expect(u.scheme == "http" && u.host == "example.com" && u.port == 8080 && u.target == "/a/b?c=d")
        #expect(u.hostHeader == "example.com:8080")
        #expect(try ImportURL.parse("https://[2001:db8::1]/").hostHeader == "[2001:db8::1]")
        #expect(try ImportURL.parse("https://example.com:443").target == "/")
        #expect(try u.resolving("/z").description == "http://example.com:8080/z")
        #expect(try u.resolving("z?q").description == "http://example.com:8080/a/z?q")
        #expect(try u.resolving("?q").description == "http://example.com:8080/a/b?q")
        #expect(try u.resolving("//other.example/p").description == "http://other.example/p")
        #expect(try u.resolving("https://169.254.169.254/latest").host == "169.254.169.254")
        #expect(u.resolvedText("file:///etc/passwd") == "file:///etc/passwd")
        #expect(refusal(u.resolvedText("file:///etc/passwd"))?.contains("scheme 'file'") == true)
    }
}
