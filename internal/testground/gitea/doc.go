// Package gitea runs a real Gitea for a test: the forge whose commit status
// API the write-back tests post to and read back from.
//
// The binary is built from the Go module proxy by hack/gitea.sh (`make
// gitea-assets`) into a cache, next to the options/, templates/ and public/
// trees it serves through STATIC_ROOT_PATH. [Start] gives each test its own
// instance on a free loopback port with SQLite in a t.TempDir, an admin user
// with an access token created before the server starts, and stops it in
// t.Cleanup.
package gitea
