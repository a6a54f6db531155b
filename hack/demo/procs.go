package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/internal/testground"
)

// child is a process the demo started: in its own process group, killed
// by the kernel if the demo dies, its output in a log file.
type child struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs name's command with output to logs/NAME.log, recording it in
// the state as soon as it has a PID.
func (d *demo) start(name string, args []string, env ...string) (*child, error) {
	logPath := filepath.Join(d.logs, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = d.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); f.Close(); close(c.done) }()
	if err := d.st.addProc(name, cmd.Process.Pid, logPath); err != nil {
		return c, err
	}
	d.onTeardown(func() { c.stop(15 * time.Second) })
	return c, nil
}

// exited returns an error if the process has already ended.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v\n%s", c.name, c.err, tail(c.log, 20))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// tail returns the last n lines of a log file, indented, for a failure report.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("    --- last lines of %s ---\n    %s", path, strings.Join(lines, "\n    "))
}

// freeAddr returns a free TCP address on ip, below the ephemeral port
// range so that no outgoing connection takes it before the child binds it.
func freeAddr(ip string) (string, error) {
	port, err := testground.FreePortOn(ip)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, strconv.Itoa(port)), nil
}

// waitHTTP polls url until it answers 200, the child exits or ctx ends.
func waitHTTP(ctx context.Context, url string, c *child, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c != nil {
			if err := c.exited(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("%s did not answer within %s", url, timeout)
			if c != nil {
				err = fmt.Errorf("%w\n%s", err, tail(c.log, 20))
			}
			return errors.Join(err, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
