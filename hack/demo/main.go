// Command demo runs the whole faultline loop on one machine, unattended:
// a hub and two member API servers (env=staging, env=prod), Gitea holding
// examples/ as a repository, Prometheus, a small service in network
// namespace "pods" with a load generator, a node daemon per member, two
// host agents, and the hub. It then walks the story of a pull request that
// adds an experiment, from `faultline plan` to the prod verdict, prints a
// summary and removes everything it started.
//
//	go run ./hack/demo up     # make demo
//	go run ./hack/demo down   # make demo-down: removes what a run left, checks nothing is left
//
// Every process, namespace, link and directory it creates is written to
// .cache/demo/state.json first, so that down (and Ctrl-C) removes exactly
// those; child output goes to .cache/demo/logs.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	cmd := "up"
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "up" || args[0] == "down") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("demo "+cmd, flag.ExitOnError)
	base := fs.String("dir", ".cache/demo", "Directory of the state file, logs and the run's data.")
	bin := fs.String("bin", "bin", "Directory holding faultline, faultline-hub, faultline-daemon and faultline-agent.")
	keep := fs.Bool("keep", false, "up: keep everything running after the story until Ctrl-C.")
	unprivileged := fs.Bool("unprivileged", false, "up: run as without root, skipping the network-namespace pods, daemons and agents.")
	promAddr := fs.String("prometheus-addr", "127.0.0.1:19090", "up: Prometheus' address; examples/overlays/demo points the probes there.")
	_ = fs.Parse(args)

	abs, err := filepath.Abs(*base)
	if err != nil {
		fatal(err)
	}
	switch cmd {
	case "down":
		err = runDown(abs)
	default:
		binAbs, _ := filepath.Abs(*bin)
		err = runUp(abs, binAbs, *promAddr, *keep, *unprivileged)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
	os.Exit(1)
}

func runDown(base string) error {
	st, err := loadState(filepath.Join(base, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		// No record: nothing of a run from this directory can exist (the
		// state is written before anything is made), but check that no demo
		// process of any run is left, and report it if one is.
		st = &state{path: filepath.Join(base, "state.json")}
		fmt.Println("no demo state in", base+"; checking for leftovers of any run")
	} else if err != nil {
		return err
	}
	if err := down(st, os.Stdout); err != nil {
		return err
	}
	if err := os.Remove(st.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Println("demo down: nothing of the demo is left (processes, network namespaces, links, nftables tables, qdiscs, data)")
	return nil
}

// demo is one run of `demo up`.
type demo struct {
	base, dir, logs, bin string
	promAddr             string
	root                 bool
	began                time.Time
	st                   *state
	fleet                *fleet // once started, for --keep

	mu       sync.Mutex
	cleanups []func() // run in reverse order by teardown
}

func runUp(base, bin, promAddr string, keep, unprivileged bool) error {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	statePath := filepath.Join(base, "state.json")
	if old, err := loadState(statePath); err == nil {
		fmt.Println("a previous demo left state behind; removing what it made first ...")
		if err := down(old, os.Stdout); err != nil {
			return fmt.Errorf("cleaning up the previous run: %w (try `make demo-down`)", err)
		}
		_ = os.Remove(statePath)
	}
	for _, b := range []string{"faultline", "faultline-hub", "faultline-daemon", "faultline-agent"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("%s: run `make build` first (make demo does)", filepath.Join(bin, b))
		}
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	run := hex.EncodeToString(id)
	d := &demo{
		base: base, dir: filepath.Join(base, "run-"+run), logs: filepath.Join(base, "logs"), bin: bin,
		promAddr: promAddr, root: os.Geteuid() == 0 && !unprivileged, began: time.Now(),
	}
	start, _ := procStart(os.Getpid())
	d.st = &state{Run: run, PID: os.Getpid(), Start: start, Dir: d.dir, path: statePath}
	if err := d.st.addDir(d.dir); err != nil {
		return err
	}
	for _, dir := range []string{d.dir, d.logs, filepath.Join(d.dir, "tmp")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	// Everything started from here inherits the marker, and temporary
	// directories (envtest's etcd data and certificates) land in the run's
	// directory, which down removes.
	os.Setenv(markerEnv, run)
	os.Setenv("TMPDIR", filepath.Join(d.dir, "tmp"))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	storyErr := d.story(ctx)
	if storyErr == nil && keep {
		fmt.Println("\n--keep: everything keeps running; Ctrl-C (or make demo-down) stops it.")
		if f := d.fleet; f != nil {
			fmt.Printf("  hub:        kubectl --kubeconfig %s get experiments,approvals -n %s\n", d.rel(f.kubeconf["hub"]), appNS)
			fmt.Printf("  members:    %s, %s\n", d.rel(f.kubeconf["staging"]), d.rel(f.kubeconf["prod"]))
			fmt.Printf("  Gitea:      %s/%s/%s (user %s, token in the hub's Secret shop/gitea)\n", f.forge.URL, "faultline", repoName, "faultline")
			fmt.Printf("  Prometheus: http://%s\n  logs:       %s\n", d.promAddr, d.rel(d.logs))
		}
		<-ctx.Done()
	}
	interrupted := ctx.Err() != nil
	if interrupted {
		fmt.Println("\ninterrupted: stopping everything the demo started ...")
	} else {
		fmt.Println("\nstopping everything the demo started ...")
	}
	stop() // a second Ctrl-C during teardown kills the demo; down cleans up after it
	downErr := d.teardown()
	if interrupted && (storyErr != nil || !keep) {
		storyErr = errors.New("interrupted")
	}
	if downErr != nil {
		return errors.Join(storyErr, downErr)
	}
	if storyErr != nil {
		return storyErr
	}
	fmt.Printf("done in %s; nothing of the demo is left.\n", time.Since(d.began).Round(time.Second))
	return nil
}

// teardown stops what this run started, in reverse order, then removes
// whatever is still recorded and checks that nothing is left.
func (d *demo) teardown() error {
	d.mu.Lock()
	cleanups := d.cleanups
	d.cleanups = nil
	d.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if err := down(d.st, os.Stdout); err != nil {
		return err
	}
	return os.Remove(d.st.path)
}

// onTeardown registers a cleanup that teardown runs.
func (d *demo) onTeardown(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups = append(d.cleanups, f)
}
