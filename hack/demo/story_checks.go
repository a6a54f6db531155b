package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitea"
)

func (d *demo) showStatuses(ctx context.Context, f *fleet, sha string, want int) error {
	var sts []gitea.CommitStatus
	err := d.waitUntil(ctx, 30*time.Second, "a final commit status per experiment", f.hubProc, func() (bool, error) {
		var err error
		if sts, err = statuses(ctx, f.forge, sha); err != nil {
			return false, nil
		}
		final := 0
		for _, s := range sts {
			if s.State == "success" || s.State == "failure" || s.State == "error" {
				final++
			}
		}
		return final >= want, nil
	})
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTEXT\tSTATE\tDESCRIPTION")
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Context, s.State, s.Description)
	}
	tw.Flush()
	d.command(fmt.Sprintf("curl %s/api/v1/repos/%s/%s/commits/%s/status", f.forge.URL, gitea.AdminUser, repoName, sha[:7]), b.String())
	return err
}

func (d *demo) summary(results []result) {
	fmt.Printf("\n%s  (%s since start)\n\n", bold("━━ Summary"), time.Since(d.began).Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  EXPERIMENT\tWAVE / WHERE\tVERDICT\tRUN TIME\tMEASURED")
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.experiment, r.where, r.verdict, r.took.Round(100*time.Millisecond), r.detail)
	}
	tw.Flush()
}

// checkStatusJSON checks what scripts read: `faultline status -A -o json`
// is valid JSON listing every experiment the hub holds, with its verdict.
func (d *demo) checkStatusJSON(ctx context.Context, f *fleet) error {
	out, code := d.cli(ctx, "status", "--kubeconfig", f.kubeconf["hub"], "-A", "-o", "json")
	if code != 0 {
		return fmt.Errorf("faultline status -A -o json failed (exit %d): %s", code, out)
	}
	var doc struct {
		Experiments []struct {
			Namespace, Name, Verdict string
		} `json:"experiments"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return fmt.Errorf("faultline status -A -o json is not JSON: %w", err)
	}
	listed := map[string]string{}
	for _, e := range doc.Experiments {
		listed[e.Namespace+"/"+e.Name] = e.Verdict
	}
	held := &v1alpha1.ExperimentList{}
	if err := f.hub.Client.List(ctx, held); err != nil {
		return fmt.Errorf("listing experiments: %w", err)
	}
	var lines []string
	for _, e := range held.Items {
		key := e.Namespace + "/" + e.Name
		v, ok := listed[key]
		if !ok {
			return fmt.Errorf("faultline status -A -o json does not list %s", key)
		}
		lines = append(lines, fmt.Sprintf("%s: %s", key, v))
	}
	if len(doc.Experiments) != len(held.Items) {
		return fmt.Errorf("faultline status -A -o json lists %d experiments, the hub holds %d", len(doc.Experiments), len(held.Items))
	}
	d.command("faultline status -A -o json | jq -r '.experiments[] | .namespace+\"/\"+.name+\": \"+.verdict'", strings.Join(lines, "\n")+"\n")
	return nil
}
