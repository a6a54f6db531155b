package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// progress reports the steps of a long operation on stderr, never stdout
// (which holds the result): a spinner line redrawn in place when stderr is
// a terminal, one plain line per step with --progress elsewhere (CI logs),
// and nothing otherwise, so that scripts see clean output.
type progress struct {
	w   io.Writer
	tty bool
	on  bool

	mu        sync.Mutex
	step      string
	stepStart time.Time
	stop      chan struct{}
	stopped   chan struct{}
}

var spinnerFrames = []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

// addProgressFlag registers --progress; call newProgress in RunE.
func addProgressFlag(cmd *cobra.Command) *bool {
	return cmd.Flags().Bool("progress", false, "Report progress on stderr even when it is not a terminal (it is always reported on a terminal).")
}

func newProgress(cmd *cobra.Command, forced bool) *progress {
	w := cmd.ErrOrStderr()
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, on: tty || forced}
}

// Step starts a step, ending the one before.
func (p *progress) Step(format string, args ...any) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step = fmt.Sprintf(format, args...)
	p.stepStart = time.Now()
	if !p.tty {
		fmt.Fprintf(p.w, "faultline: %s…\n", p.step)
		return
	}
	if p.stop == nil {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.spin()
	}
	p.draw(0)
}

// spin redraws the terminal line until Done.
func (p *progress) spin() {
	defer close(p.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw(i)
			p.mu.Unlock()
		}
	}
}

// draw writes the spinner line; p.mu is held.
func (p *progress) draw(frame int) {
	fmt.Fprintf(p.w, "\r\033[K%c %s (%s)", spinnerFrames[frame%len(spinnerFrames)], p.step, time.Since(p.stepStart).Round(100*time.Millisecond))
}

// Done ends the last step and clears the terminal line. Call it before
// printing anything else to stderr; calling it twice is harmless.
func (p *progress) Done() {
	if p == nil || !p.on {
		return
	}
	if p.stop != nil {
		close(p.stop)
		<-p.stopped
		p.stop = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.step != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.step = ""
}
