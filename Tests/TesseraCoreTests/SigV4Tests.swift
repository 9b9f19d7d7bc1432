import Foundation
import Testing

@testable import TesseraCore

/// Against the examples of Amazon's S3 documentation ("Signature Calculations for the Authorization Header").
@Suite struct SigV4Tests {
    static let signer = SigV4(
        accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let day = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    static func signature(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "Authorization" }?.1.components(separatedBy: "Signature=").last
    }

    @Test func getObjectWithARange() {
        let headers = Self.signer.headers(
            method: "GET", path: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: SigV4.emptyPayloadHash, date: Self.day)
        #expect(Self.signature(headers) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
        #expect(
            headers.first { $0.0 == "Authorization" }?.1.contains(
                "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"
            ) == true)
    }

    @Test func putObjectWithAnEncodedKey() {
        let headers = Self.signer.headers(
            method: "PUT", path: "/test$file.text",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", date: Self.day)
        #expect(Self.signature(headers) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func getBucketLifecycleWithAQuery() {
        let headers = Self.signer.headers(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: [("Host", "examplebucket.s3.amazonaws.com")],
            payloadHash: SigV4.emptyPayloadHash, date: Self.day)
        #expect(Self.signature(headers) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjectsWithTwoParameters() {
        let headers = Self.signer.headers(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [("Host", "examplebucket.s3.amazonaws.com")], payloadHash: SigV4.emptyPayloadHash, date: Self.day)
        #expect(Self.signature(headers) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func theSecretKeyIsNeverPrinted() {
        for text in ["\(Self.signer)", String(reflecting: Self.signer)] {
            #expect(!text.contains("wJalrXUtnFEMI") && text.contains("AKIAIOSFODNN7EXAMPLE"), "\(text)")
        }
    }

    @Test func encodingKeepsOnlyTheUnreserved() {
        #expect(SigV4.encode("a b/c~d_e-f.g$é") == "a%20b%2Fc~d_e-f.g%24%C3%A9")
        #expect(SigV4.encodePath("/org/blobs/ab") == "/org/blobs/ab")
    }
}
