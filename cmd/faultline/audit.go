package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/reconciler/writeback"
)

func newAuditCommand() *cobra.Command {
	var (
		repo   string
		since  time.Duration
		output string
	)
	cmd := &cobra.Command{
		Use:   "audit --repo URL|DIR",
		Short: "Lists the experiment runs recorded in a repository's git notes",
		Long: `audit prints the audit trail the hub writes after every run: one JSON record
per run, kept as a git note on the revision the experiment came from, under
refs/notes/faultline (` + "`git log --notes=faultline`" + ` shows them too).

--repo is a clone URL (the notes ref is fetched; credentials may be given in
the URL or in FAULTLINE_GIT_USERNAME and FAULTLINE_GIT_PASSWORD) or a local
clone, which must have fetched the notes:
  git fetch origin refs/notes/faultline:refs/notes/faultline`,
		Example: `  faultline audit --repo https://git.example.com/platform/chaos.git --since 168h
  faultline audit --repo . -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", output)
			}
			if repo == "" {
				return fmt.Errorf("--repo is required: a clone URL or a local clone")
			}
			var (
				recs     []writeback.Record
				problems []string
				err      error
			)
			if st, statErr := os.Stat(repo); statErr == nil && st.IsDir() {
				recs, problems, err = writeback.ReadDir(repo)
			} else {
				recs, problems, err = writeback.ReadRemote(cmd.Context(), repo, envAuth())
			}
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", p)
			}
			if since > 0 {
				cutoff := time.Now().Add(-since)
				kept := recs[:0]
				for _, r := range recs {
					if !r.Start.Before(cutoff) {
						kept = append(kept, r)
					}
				}
				recs = kept
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if recs == nil {
					recs = []writeback.Record{}
				}
				return enc.Encode(recs)
			}
			return printAudit(cmd.OutOrStdout(), recs)
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "Clone URL or local clone of the experiments repository.")
	cmd.Flags().DurationVar(&since, "since", 0, "Only runs that started within this long, such as 24h.")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "Output format: table or json.")
	return cmd
}

// envAuth is basic auth from the environment, for URLs without credentials.
func envAuth() transport.AuthMethod {
	user, pass := os.Getenv("FAULTLINE_GIT_USERNAME"), os.Getenv("FAULTLINE_GIT_PASSWORD")
	if user == "" && pass == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: user, Password: pass}
}

func printAudit(w io.Writer, recs []writeback.Record) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "No runs recorded.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tEXPERIMENT\tCOMMIT\tVERDICT\tDURATION\tAUTHOR\tAPPROVED BY\tTARGETS\tMESSAGE")
	for _, r := range recs {
		var approvers []string
		for _, a := range r.Approvals {
			approvers = append(approvers, a.By)
		}
		var injected, selected int32
		for _, t := range r.Targets {
			injected += t.Injected
			selected += t.Selected
		}
		dur := "-"
		if !r.End.IsZero() && !r.Start.IsZero() {
			dur = r.End.Sub(r.Start).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n",
			r.Start.UTC().Format(time.RFC3339), r.Experiment, short(r.Commit), r.Verdict, dur,
			orDash(authorName(r.Author)), orDash(strings.Join(approvers, ",")), injected, selected, cut(r.Message, 80))
	}
	return tw.Flush()
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// authorName drops the e-mail of "Name <email>".
func authorName(a string) string {
	if i := strings.Index(a, " <"); i > 0 {
		return a[:i]
	}
	return a
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
