package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// cli runs bin/faultline and returns its combined output and exit code.
func (d *demo) cli(ctx context.Context, args ...string) (string, int) {
	return d.cliEnv(ctx, nil, args...)
}

func (d *demo) cliEnv(ctx context.Context, env []string, args ...string) (string, int) {
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "faultline"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out) + err.Error(), 127
	}
	return string(out), 0
}

func ms(v float64) string { return fmt.Sprintf("%.0fms", v*1000) }

func faultString(f v1alpha1.FaultSpec) string {
	switch {
	case f.Network != nil && f.Network.Latency != nil:
		return fmt.Sprintf("network %s %s", f.Network.Action, f.Network.Latency.Duration)
	case f.Network != nil:
		return "network " + string(f.Network.Action)
	case f.Stress != nil && f.Stress.Load > 0:
		return fmt.Sprintf("stress %s %d%% ×%d", f.Stress.Action, f.Stress.Load, max(f.Stress.Workers, 1))
	case f.Stress != nil:
		return fmt.Sprintf("stress %s", f.Stress.Action)
	}
	return "fault"
}

func condMessage(obj conditions.Getter, t string) string {
	if c := conditions.Get(obj, t); c != nil {
		return c.Reason + ": " + c.Message
	}
	return ""
}

// shortArgs shows paths relative to the working directory and the demo's
// files by name, so that commands read as a user would type them.
func shortArgs(args []string) []string {
	wd, _ := os.Getwd()
	out := make([]string, 0, len(args))
	for _, a := range args {
		if rel, err := filepath.Rel(wd, a); err == nil && filepath.IsAbs(a) && !strings.HasPrefix(rel, "..") {
			a = rel
		}
		if strings.Contains(a, " ") {
			a = strconv.Quote(a)
		}
		out = append(out, a)
	}
	return out
}

// Output helpers: numbered headers, steps, commands with their output.

func (d *demo) header(n int, title string) {
	if n > 0 {
		title = fmt.Sprintf("%d/7  %s", n, title)
	}
	fmt.Printf("\n%s\n", bold("━━ "+title))
}

// bold sets s in bold on a terminal, and leaves it plain in a log.
func bold(s string) string {
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return "\033[1m" + s + "\033[0m"
	}
	return s
}

func (d *demo) step(format string, args ...any) {
	fmt.Printf("  [%5.1fs] %s\n", time.Since(d.began).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) note(format string, args ...any) {
	fmt.Printf("  note: %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) command(cmd, out string) {
	fmt.Printf("\n  $ %s\n", cmd)
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Printf("    %s\n", line)
	}
	fmt.Println()
}

func (d *demo) rel(p string) string {
	wd, _ := os.Getwd()
	if r, err := filepath.Rel(wd, p); err == nil {
		return r
	}
	return p
}
