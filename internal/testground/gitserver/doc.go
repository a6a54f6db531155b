// Package gitserver serves bare Git repositories over real smart HTTP on
// loopback, for integration tests of everything that fetches from or writes
// back to Git.
//
// It runs the stock `git http-backend` behind Go's net/http/cgi handler
// instead of an in-process fake, so clients (go-git in the hub, the git CLI
// in scripts) exercise exactly the protocol, capabilities and failure modes
// of a production forge: ref advertisement, protocol v2, side-band, push
// refusal and HTTP basic authentication.
//
// Tests usually call [Start], which ties the server's lifetime to the test.
// [New] and [Server.Close] serve programs such as a local demo that need the
// same server without a testing.TB.
package gitserver
