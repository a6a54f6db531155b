package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/reconciler/writeback"
	"github.com/faultline-dev/faultline/sources"
)

func newAuditCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	var (
		repo, source string
		since        time.Duration
		out          *output
		showProg     *bool
	)
	cmd := &cobra.Command{
		Use:   "audit --repo URL|DIR | --source [NAMESPACE/]NAME",
		Short: "Lists the experiment runs recorded in a repository's git notes",
		Long: `audit prints the audit trail the hub writes after every run: one JSON record
per run, kept as a git note on the revision the experiment came from, under
refs/notes/faultline (` + "`git log --notes=faultline`" + ` shows them too).

--repo is a clone URL (the notes ref is fetched; credentials may be given in
the URL or in FAULTLINE_GIT_USERNAME and FAULTLINE_GIT_PASSWORD) or a local
clone, which must have fetched the notes:
  git fetch origin refs/notes/faultline:refs/notes/faultline

--source names a ChaosSource on the hub (kubectl's flags say which hub):
its URL is read, with the credentials of its secretRef.`,
		Example: `  faultline audit --repo https://git.example.com/platform/chaos.git --since 168h
  faultline audit --repo . -o json
  faultline audit --source flux-system/chaos --context hub -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if (repo == "") == (source == "") {
				return fmt.Errorf("give --repo (a clone URL or a local clone) or --source (a ChaosSource on the hub)")
			}
			var (
				recs     []writeback.Record
				problems []string
				err      error
			)
			prog := newProgress(cmd, *showProg)
			switch st, statErr := os.Stat(repo); {
			case source != "":
				var url string
				var auth transport.AuthMethod
				var cleanup func()
				if url, auth, cleanup, err = sourceRemote(cmd.Context(), kube, source); err != nil {
					return err
				}
				defer cleanup()
				prog.Step("fetching refs/notes/faultline from %s", url)
				recs, problems, err = writeback.ReadRemote(cmd.Context(), url, auth)
			case statErr == nil && st.IsDir():
				prog.Step("reading refs/notes/faultline in %s", repo)
				recs, problems, err = writeback.ReadDir(repo)
			default:
				prog.Step("fetching refs/notes/faultline from %s", repo)
				recs, problems, err = writeback.ReadRemote(cmd.Context(), repo, envAuth())
			}
			prog.Done()
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
			if recs == nil {
				recs = []writeback.Record{}
			}
			// The machine formats are the records as the notes hold them: a list.
			return out.print(cmd.OutOrStdout(), recs, func(w io.Writer, _ string) error { return printAudit(w, recs) })
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "Clone URL or local clone of the experiments repository.")
	cmd.Flags().StringVar(&source, "source", "", "ChaosSource on the hub whose repository to read, as [NAMESPACE/]NAME.")
	cmd.Flags().DurationVar(&since, "since", 0, "Only runs that started within this long, such as 24h.")
	out = addOutputFlag(cmd, formatTable, formatJSON, formatYAML)
	showProg = addProgressFlag(cmd)
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

// sourceRemote reads a ChaosSource's URL and credentials from the hub;
// cleanup removes what the credentials needed on disk (an SSH known_hosts).
func sourceRemote(ctx context.Context, kube *genericclioptions.ConfigFlags, name string) (string, transport.AuthMethod, func(), error) {
	none := func() {}
	c, defaultNS, err := hubClient(kube)
	if err != nil {
		return "", nil, none, err
	}
	ns, n := splitName(defaultNS, name)
	src := &v1alpha1.ChaosSource{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, src); err != nil {
		return "", nil, none, fmt.Errorf("chaossource %s/%s: %w", ns, n, err)
	}
	if src.Spec.SecretRef == nil {
		return src.Spec.URL, envAuth(), none, nil
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.Spec.SecretRef.Name}, secret); err != nil {
		return "", nil, none, fmt.Errorf("credentials of chaossource %s/%s: %w", ns, n, err)
	}
	stateDir, err := os.MkdirTemp("", "faultline-audit-")
	if err != nil {
		return "", nil, none, err
	}
	cleanup := func() { _ = os.RemoveAll(stateDir) }
	auth, err := sources.AuthFromSecret(src.Spec.URL, secret.Data, stateDir)
	if err != nil {
		cleanup()
		return "", nil, none, fmt.Errorf("credentials of chaossource %s/%s (secret %s): %w", ns, n, secret.Name, err)
	}
	return src.Spec.URL, auth, cleanup, nil
}

func printAudit(w io.Writer, recs []writeback.Record) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "No runs recorded.")
		return err
	}
	tw := newTable(w)
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
