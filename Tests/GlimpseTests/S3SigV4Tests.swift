import Crypto
import GlimpseStoreDrivers
import NIOCore
import Testing

/// `SigV4Signer` against AWS's published vectors. Expected values are copied from the sources,
/// never produced by this implementation:
/// - the AWS SigV4 test suite (`aws-sig-v4-test-suite`, as vendored in botocore's
///   `tests/unit/auth/aws4_testsuite/<name>/<name>.{req,creq,sts,authz}`): AKIDEXAMPLE,
///   20150830T123600Z, us-east-1, service `service`;
/// - the S3 API reference's worked examples ("Signature Calculations for the Authorization
///   Header: Transferring Payload in a Single Chunk" and "… in Multiple Chunks"):
///   AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1, service `s3`.
@Suite struct S3SigV4Tests {
    static let suiteSigner = SigV4Signer(
        accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1",
        service: "service")
    static let suiteDate = "20150830T123600Z"
    static let s3Signer = SigV4Signer(
        accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1",
        service: "s3")
    static let s3Date = "20130524T000000Z"
    static let empty = SigV4Signer.emptyPayloadHash

    static func suite(
        _ method: String, _ path: String, query: [(name: String, value: String)] = [],
        headers extra: [(name: String, value: String)] = [], body: String = ""
    ) -> SigV4Signer.Signed {
        let headers = [(name: "Host", value: "example.amazonaws.com"), (name: "X-Amz-Date", value: suiteDate)] + extra
        return suiteSigner.sign(
            SigV4Signer.Request(
                method: method, path: path, query: query, headers: headers,
                payloadHash: SigV4Signer.hexSHA256(Array(body.utf8))),
            amzDate: suiteDate)
    }

    static func suiteAuthorization(_ signedHeaders: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    // MARK: the SigV4 test suite

    @Test func getVanilla() {
        let s = Self.suite("GET", "/")
        #expect(
            s.canonicalRequest
                == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        #expect(
            s.stringToSign
                == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        )
        #expect(
            s.authorization
                == Self.suiteAuthorization("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"))
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let s = Self.suite("GET", "/", query: [(name: "Param2", value: "value2"), (name: "Param1", value: "value1")])
        #expect(s.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
        #expect(s.stringToSign.hasSuffix("\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"))
        #expect(s.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func postXWWWFormURLEncoded() {
        let s = Self.suite(
            "POST", "/", headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded")], body: "Param1=value1")
        #expect(
            s.canonicalRequest
                == "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        )
        #expect(s.stringToSign.hasSuffix("\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"))
        #expect(
            s.authorization
                == Self.suiteAuthorization(
                    "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"))
    }

    @Test func pathEncoding() {
        let unreserved = Self.suite("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        #expect(unreserved.signature == "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f")
        let utf8 = Self.suite("GET", "/\u{1234}")
        #expect(utf8.canonicalRequest.hasPrefix("GET\n/%E1%88%B4\n"))
        #expect(utf8.signature == "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
        let space = Self.suite("GET", "/example space/")
        #expect(space.canonicalRequest.hasPrefix("GET\n/example%20space/\n"))
        #expect(space.signature == "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")
    }

    @Test func queryEncodingAndOrder() {
        let utf8 = Self.suite("GET", "/", query: [(name: "\u{1234}", value: "bar")])
        #expect(utf8.signature == "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")
        let encoded = Self.suite(
            "GET", "/",
            query: [(name: "Param-3", value: "Value3"), (name: "Param", value: "Value2"), (name: "\u{1234}", value: "Value1")])
        #expect(
            encoded.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2]
                == "%E1%88%B4=Value1&Param=Value2&Param-3=Value3")
        #expect(encoded.signature == "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac")
        let all = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        #expect(
            Self.suite("GET", "/", query: [(name: all, value: all)]).signature
                == "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")
        #expect(
            Self.suite("POST", "/", query: [(name: "Param1", value: "value1")]).signature
                == "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")
    }

    @Test func headerCanonicalization() {
        let trim = Self.suite(
            "GET", "/", headers: [(name: "My-Header1", value: " value1"), (name: "My-Header2", value: " \"a   b   c\"")])
        #expect(trim.canonicalRequest.contains("\nmy-header1:value1\nmy-header2:\"a b c\"\n"))
        #expect(trim.signature == "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")
        let multiline = Self.suite("GET", "/", headers: [(name: "My-Header1", value: "value1\n  value2\n     value3")])
        #expect(multiline.canonicalRequest.contains("\nmy-header1:value1 value2 value3\n"))
        #expect(multiline.signature == "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd")
        let duplicate = Self.suite(
            "GET", "/",
            headers: [
                (name: "My-Header1", value: "value2"), (name: "My-Header1", value: "value2"), (name: "My-Header1", value: "value1"),
            ])
        #expect(duplicate.canonicalRequest.contains("\nmy-header1:value2,value2,value1\n"))
        #expect(duplicate.signature == "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")
        let order = Self.suite(
            "GET", "/",
            headers: ["value4", "value1", "value3", "value2"].map { (name: "My-Header1", value: $0) })
        #expect(order.signature == "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01")
        let sort = Self.suite("POST", "/", headers: [(name: "My-Header1", value: "value1")])
        #expect(sort.signedHeaders == "host;my-header1;x-amz-date")
        #expect(sort.signature == "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")
        let token = Self.suite(
            "GET", "/",
            headers: [
                (name: "X-Amz-Security-Token", value: "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267")
            ])
        #expect(token.signature == "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")
    }

    // MARK: the S3 API reference

    static func s3(
        _ method: String, _ path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)], payloadHash: String
    ) -> SigV4Signer.Signed {
        s3Signer.sign(
            SigV4Signer.Request(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash),
            amzDate: s3Date)
    }

    @Test func s3GetObjectWithRange() {
        let s = Self.s3(
            "GET", "/test.txt",
            headers: [
                (name: "Host", value: "examplebucket.s3.amazonaws.com"), (name: "Range", value: "bytes=0-9"),
                (name: "x-amz-content-sha256", value: Self.empty), (name: "x-amz-date", value: Self.s3Date),
            ], payloadHash: Self.empty)
        #expect(
            s.canonicalRequest
                == "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        #expect(
            s.stringToSign
                == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        )
        #expect(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectEncodesTheKeyOnce() {
        let payload = SigV4Signer.hexSHA256(Array("Welcome to Amazon S3.".utf8))
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let s = Self.s3(
            "PUT", "/test$file.text",
            headers: [
                (name: "Date", value: "Fri, 24 May 2013 00:00:00 GMT"), (name: "Host", value: "examplebucket.s3.amazonaws.com"),
                (name: "x-amz-date", value: Self.s3Date), (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY"),
                (name: "x-amz-content-sha256", value: payload),
            ], payloadHash: payload)
        #expect(s.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"))
        #expect(s.stringToSign.hasSuffix("\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(s.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3BucketQueries() {
        let headers: [(name: String, value: String)] = [
            (name: "Host", value: "examplebucket.s3.amazonaws.com"), (name: "x-amz-content-sha256", value: Self.empty),
            (name: "x-amz-date", value: Self.s3Date),
        ]
        let lifecycle = Self.s3("GET", "/", query: [(name: "lifecycle", value: "")], headers: headers, payloadHash: Self.empty)
        #expect(lifecycle.canonicalRequest.hasPrefix("GET\n/\nlifecycle=\n"))
        #expect(lifecycle.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        let list = Self.s3(
            "GET", "/", query: [(name: "prefix", value: "J"), (name: "max-keys", value: "2")], headers: headers,
            payloadHash: Self.empty)
        #expect(list.canonicalRequest.hasPrefix("GET\n/\nmax-keys=2&prefix=J\n"))
        #expect(list.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    /// The streaming (aws-chunked) example: 66,560 bytes of `a` as a 64 KiB chunk, a 1 KiB chunk
    /// and the final empty chunk; the seed signature and each chunk signature as AWS prints them.
    @Test func s3StreamingChunkedUpload() {
        #expect(AWSChunkSigner.encodedLength(decodedLength: 66560, chunkSize: 65536) == 66824)
        let seed = Self.s3(
            "PUT", "/examplebucket/chunkObject.txt",
            headers: [
                (name: "Host", value: "s3.amazonaws.com"), (name: "x-amz-date", value: Self.s3Date),
                (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY"),
                (name: "x-amz-content-sha256", value: SigV4Signer.streamingPayload),
                (name: "Content-Encoding", value: "aws-chunked"), (name: "x-amz-decoded-content-length", value: "66560"),
                (name: "Content-Length", value: "66824"),
            ], payloadHash: SigV4Signer.streamingPayload)
        #expect(
            seed.signedHeaders
                == "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
        )
        #expect(seed.stringToSign.hasSuffix("\ncee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455"))
        #expect(seed.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")

        var chunks = AWSChunkSigner(seed: seed)
        var body = ByteBuffer()
        chunks.frame(ByteBuffer(repeating: UInt8(ascii: "a"), count: 65536), into: &body)
        #expect(chunks.previousSignature == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648")
        chunks.frame(ByteBuffer(repeating: UInt8(ascii: "a"), count: 1024), into: &body)
        #expect(chunks.previousSignature == "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497")
        chunks.frame(ByteBuffer(), into: &body)
        #expect(chunks.previousSignature == "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")
        #expect(body.readableBytes == 66824)
        let text = String(buffer: body)
        #expect(text.hasPrefix("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\naaaa"))
        #expect(
            text.hasSuffix(
                "a\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
                    + String(repeating: "a", count: 1024)
                    + "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"))
    }

    @Test func amzDates() {
        #expect(AmzDate.string(epochSeconds: 1_440_938_160) == "20150830T123600Z")
        #expect(AmzDate.string(epochSeconds: 1_369_353_600) == "20130524T000000Z")
        #expect(AmzDate.string(epochSeconds: 0) == "19700101T000000Z")
        #expect(AmzDate.string(epochSeconds: 951_782_399) == "20000228T235959Z")
        #expect(AmzDate.string(epochSeconds: 951_782_400) == "20000229T000000Z")
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b/c+d=e&f~g", encodeSlash: false) == "a%20b/c%2Bd%3De%26f~g")
        #expect(SigV4Signer.uriEncode("a/b", encodeSlash: true) == "a%2Fb")
        #expect(SigV4Signer.canonicalURI("") == "/")
    }
}
