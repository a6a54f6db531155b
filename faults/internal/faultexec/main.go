// Command faultexec is a minimal executor around the fault engine, for the
// crash tests of package faults: it opens the journal (reaping whatever a
// killed predecessor left), applies the requests in a JSON file, prints
// "ready" and waits for SIGTERM, on which it recovers everything. Tests kill
// it with SIGKILL instead, mid-apply or after "ready", and start it again.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/faults"
)

// request is faults.Request with a relative deadline.
type request struct {
	faults.Request
	For time.Duration `json:"for"`
}

func main() {
	faults.HelperMain()
	journal := flag.String("journal", "", "journal path")
	reqFile := flag.String("requests", "", "JSON file with the requests to apply")
	reapOnly := flag.Bool("reap-only", false, "reap the journal and exit")
	flag.Parse()
	if err := run(*journal, *reqFile, *reapOnly); err != nil {
		fmt.Fprintln(os.Stderr, "faultexec:", err)
		os.Exit(1)
	}
}

func run(journal, reqFile string, reapOnly bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	e, report, err := faults.Open(ctx, faults.Options{JournalPath: journal})
	if err != nil {
		return err
	}
	defer e.Close(context.Background())
	if len(report.Failed) > 0 {
		return fmt.Errorf("reap: %v", report.Failed)
	}
	fmt.Printf("reaped %d\n", len(report.Recovered))
	if reapOnly {
		return nil
	}
	raw, err := os.ReadFile(reqFile)
	if err != nil {
		return err
	}
	var reqs []request
	if err := json.Unmarshal(raw, &reqs); err != nil {
		return fmt.Errorf("%s: %w", reqFile, err)
	}
	for i := range reqs {
		r := reqs[i].Request
		r.Deadline = time.Now().Add(reqs[i].For)
		if _, err := e.Apply(ctx, &r); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}
