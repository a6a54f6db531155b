package testground

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// PostJSON posts body as JSON to url with a bearer token and returns the
// status code and the response body, or the transport error (a refused TLS
// handshake, say), which tests of client certificates look for.
func PostJSON(ctx context.Context, c *http.Client, url, bearer string, body any) (int, []byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// FreeAddr returns a loopback address (127.0.0.1:port) that was free a
// moment ago, for a child process that must be told where to listen.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// FreePort returns a loopback TCP port nobody listens on at the moment; a
// child process started on it may still race another for it.
func FreePort() (int, error) { return FreePortOn("127.0.0.1") }

// FreePortOn returns a TCP port on ip nobody listens on at the moment,
// chosen below the kernel's ephemeral range when there is room. Ports in
// that range are also what outgoing connections get (to API servers, etcd,
// Prometheus, Gitea: dozens a second during the tests), and a connection
// that takes the port between this call and the child's bind makes the
// bind fail with "address already in use".
func FreePortOn(ip string) (int, error) {
	if lo, hi := belowEphemeral(); hi > lo {
		for range 64 {
			port := lo + rand.IntN(hi-lo+1)
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// belowEphemeral is the range of ports from 10000 up to the start of the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), empty when that
// cannot be read or leaves no room.
func belowEphemeral() (lo, hi int) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(raw))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, 0
	}
	return 10000, start - 1
}
