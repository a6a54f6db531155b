package gitserver

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"slices"
	"strings"
)

// authRealm is announced in WWW-Authenticate; git shows it when prompting.
const authRealm = `Basic realm="faultline gitserver", charset="UTF-8"`

var errBodyTooLarge = errors.New("request body too large")

// ServeHTTP authenticates the request, makes its body acceptable to CGI and
// hands it to git http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", authRealm)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if err := bufferChunkedBody(r, s.cfg.maxBody); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errBodyTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), status)
		return
	}

	h := &cgi.Handler{
		Path: s.backend,
		Root: "/",
		Dir:  s.root,
		// REMOTE_USER matters beyond logging: http-backend refuses
		// receive-pack (pushes) for anonymous requests unless it is set.
		Env: append(slices.Clip(s.gitEnv),
			"GIT_PROJECT_ROOT="+s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER="+user,
		),
		Logger: log.New(logWriter{"gitserver: cgi", s.cfg.logf}, "", 0),
		Stderr: logWriter{"gitserver: git http-backend", s.cfg.logf},
	}
	h.ServeHTTP(w, r)
}

// authenticate checks basic credentials when the server requires them and
// returns the name to pass on as REMOTE_USER.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	if s.cfg.user == "" {
		return "anonymous", true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.user)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.pass)) == 1
	return user, userOK && passOK
}

// bufferChunkedBody reads a body of unknown length into memory and sets
// Content-Length. net/http/cgi refuses chunked request bodies, and the git
// CLI sends every request body larger than http.postBuffer (1 MiB) chunked,
// so without this any real-sized push would fail with 400.
func bufferChunkedBody(r *http.Request, limit int64) error {
	if r.ContentLength > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", errBodyTooLarge, r.ContentLength, limit)
	}
	if r.ContentLength >= 0 && len(r.TransferEncoding) == 0 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: limit %d bytes", errBodyTooLarge, limit)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	return nil
}

// logWriter adapts a printf-style logger to the io.Writer that cgi wants
// for the child's standard error.
type logWriter struct {
	prefix string
	logf   func(format string, args ...any)
}

func (l logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimRight(string(p), "\n"); msg != "" {
		l.logf("%s: %s", l.prefix, msg)
	}
	return len(p), nil
}
