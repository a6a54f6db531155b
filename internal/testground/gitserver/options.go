package gitserver

// Option configures a Server at construction.
type Option func(*config)

type config struct {
	user, pass  string
	maxBody     int64
	logf        func(format string, args ...any)
	backendPath string
}

// defaultMaxBody bounds how much of a request body the server holds in memory
// while it de-chunks it; pushes in tests are far smaller, and the bound keeps
// a runaway client from exhausting the machine.
const defaultMaxBody = 256 << 20

// WithBasicAuth requires HTTP basic authentication with the given credentials
// on every request, fetches included, like a private repository on a forge.
// The user name is also what git http-backend sees as REMOTE_USER.
func WithBasicAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithMaxBody changes the largest request body accepted (default 256 MiB).
// Larger bodies are answered with 413 Request Entity Too Large.
func WithMaxBody(n int64) Option {
	return func(c *config) { c.maxBody = n }
}

// WithLogf sends git http-backend's standard error and CGI errors to logf
// (Start uses t.Logf), so a failing push explains itself in the test log.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// WithBackend uses the git http-backend binary at path instead of the one
// found through `git --exec-path`.
func WithBackend(path string) Option {
	return func(c *config) { c.backendPath = path }
}
