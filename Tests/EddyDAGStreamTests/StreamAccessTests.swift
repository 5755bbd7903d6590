@testable import EddyDAGStream
import EddyHTTP
import Testing

@Suite("Stream access: tokens and resume points")
struct StreamAccessTests {
    @Test func tokensCompareInFull() {
        #expect(StreamAccess.constantTimeEquals("secret", "secret"))
        #expect(StreamAccess.constantTimeEquals("", ""))
        // Lengths that differ by a multiple of 256 used to fold to 0 in an 8-bit difference.
        for extra in [1, 255, 256, 512, 65536] {
            #expect(!StreamAccess.constantTimeEquals("secret", "secret" + String(repeating: "\0", count: extra)), "\(extra)")
            #expect(!StreamAccess.constantTimeEquals("secret" + String(repeating: "\0", count: extra), "secret"), "\(extra)")
        }
        #expect(!StreamAccess.constantTimeEquals("secret", "secreT"))
        #expect(!StreamAccess.constantTimeEquals("secret", ""))
    }

    @Test func paddedTokensAreRefused() {
        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = ["op"]
        let access = StreamAccess(configuration: configuration)
        func decide(_ target: String) -> StreamAccess.Decision {
            access.decide(HTTPRequest(method: .get, target: target, headers: ["Host": "h"]))
        }
        #expect(decide("/?token=op") == .allow(.operatorRole))
        #expect(decide("/?token=op" + String(repeating: "%00", count: 256)) == .deny(.unauthorized, "invalid token"))
    }

    /// An empty configured token must not admit a client that sends an empty one
    /// (`Authorization: Bearer `, a bare `token.` subprotocol, `?token=`).
    @Test func emptyTokensAdmitNobody() {
        var configuration = DAGStreamConfiguration()
        configuration.operatorTokens = [""]
        configuration.viewerTokens = ["", "view"]
        let access = StreamAccess(configuration: configuration)
        for headers: HTTPHeaders in [["Host": "h", "Authorization": "Bearer "], ["Host": "h", "Sec-WebSocket-Protocol": "eddy.dag.v1, token."]] {
            #expect(access.decide(HTTPRequest(method: .get, target: "/", headers: headers)) == .deny(.unauthorized, "missing token"))
        }
        #expect(access.decide(HTTPRequest(method: .get, target: "/?token=", headers: ["Host": "h"])) == .deny(.unauthorized, "missing token"))
        #expect(access.decide(HTTPRequest(method: .get, target: "/?token=view", headers: ["Host": "h"])) == .allow(.viewer))
    }

    @Test(arguments: [
        ("/?since=5&epoch=77", ResumePoint(since: 5, epoch: 77)),
        ("/?since=0&epoch=garbage", nil),
        ("/?since=0&epoch=77x", nil),
        ("/?since=0&epoch=", nil),
        ("/?since=0", nil),
        ("/?epoch=77", nil),
        ("/?since=-1&epoch=77", nil),
        ("/?since=%2B1&epoch=77", nil),
        ("/?since=1&epoch=99999999999999999999", nil),
        ("/", nil),
    ] as [(String, ResumePoint?)])
    func resumePointsAreWellFormedOrNothing(_ target: String, _ expected: ResumePoint?) {
        #expect(ResumePoint(HTTPRequest(method: .get, target: target, headers: ["Host": "h"])) == expected, "\(target)")
    }
}
