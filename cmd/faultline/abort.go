package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func newAbortCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	var all, wait bool
	var timeout time.Duration
	var out *output
	var showProg *bool
	cmd := &cobra.Command{
		Use:   "abort [NAMESPACE/NAME | NAME]",
		Short: "Recovers an experiment's faults in every member at once and ends its run as Aborted",
		Long: `abort marks experiments with the faultline.dev/abort annotation. The hub then
deletes their Injections in every member cluster at once; each executor takes
its fault away and the run ends with the verdict Aborted. Runs that start
later (a new revision or schedule tick) are not affected.`,
		Example: `  faultline abort shop/checkout-latency
  faultline abort --all -n shop
  faultline abort --all --all-namespaces`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if all == (len(args) == 1) {
				return errors.New("name one experiment or pass --all")
			}
			c, ns, err := hubClient(kube)
			if err != nil {
				return err
			}
			allNS, _ := cmd.Flags().GetBool("all-namespaces")
			keys, err := abortTargets(cmd.Context(), c, ns, args, all, allNS)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// Tables report each step as it happens; json and yaml report
			// everything at the end, as one document.
			lines := cmd.OutOrStdout()
			if out.machine() {
				lines = io.Discard
			}
			prog := newProgress(cmd, *showProg)
			results, err := abortExperiments(ctx, c, keys, wait, lines, prog)
			prog.Done()
			if err != nil {
				return err
			}
			doc := abortDoc{Experiments: results}
			return out.print(cmd.OutOrStdout(), doc, func(w io.Writer, _ string) error {
				if len(results) == 0 {
					_, err := fmt.Fprintln(cmd.ErrOrStderr(), "No running experiment to abort.")
					return err
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Abort every running experiment in the namespace (or all namespaces with -A).")
	cmd.Flags().BoolP("all-namespaces", "A", false, "With --all: every namespace.")
	cmd.Flags().BoolVar(&wait, "wait", true, "Wait until every target is recovered.")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "How long to wait.")
	out = addOutputFlag(cmd, formatTable, formatJSON, formatYAML)
	showProg = addProgressFlag(cmd)
	return cmd
}

func abortTargets(ctx context.Context, c client.Client, ns string, args []string, all, allNS bool) ([]types.NamespacedName, error) {
	if !all {
		key := types.NamespacedName{Namespace: ns, Name: args[0]}
		if before, after, ok := strings.Cut(args[0], "/"); ok {
			key = types.NamespacedName{Namespace: before, Name: after}
		}
		return []types.NamespacedName{key}, nil
	}
	list := &v1alpha1.ExperimentList{}
	opts := []client.ListOption{}
	if !allNS {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing experiments: %w", err)
	}
	var keys []types.NamespacedName
	for _, e := range list.Items {
		if e.Status.Phase.Terminal() {
			continue
		}
		keys = append(keys, types.NamespacedName{Namespace: e.Namespace, Name: e.Name})
	}
	return keys, nil
}

// abortDoc is what abort -o json|yaml prints.
type abortDoc struct {
	Experiments []abortResult `json:"experiments"`
}

// abortResult is one experiment abort asked to stop.
type abortResult struct {
	Namespace   string      `json:"namespace"`
	Name        string      `json:"name"`
	RequestedAt metav1.Time `json:"requestedAt"`
	// Recovered is true once the run ended (with --wait); RecoveryTime is how long that took.
	Recovered    bool   `json:"recovered"`
	RecoveryTime string `json:"recoveryTime,omitempty"`
	Phase        string `json:"phase,omitempty"`
	Verdict      string `json:"verdict,omitempty"`
}

func abortExperiments(ctx context.Context, c client.Client, keys []types.NamespacedName, waitDone bool, out io.Writer, prog *progress) ([]abortResult, error) {
	now := time.Now().UTC()
	at := now.Format(time.RFC3339Nano)
	results := make([]abortResult, 0, len(keys))
	for _, key := range keys {
		exp := &v1alpha1.Experiment{}
		if err := c.Get(ctx, key, exp); err != nil {
			return nil, fmt.Errorf("experiment %s: %w", key, err)
		}
		p := client.MergeFrom(exp.DeepCopy())
		if exp.Annotations == nil {
			exp.Annotations = map[string]string{}
		}
		exp.Annotations[v1alpha1.AbortAnnotation] = at
		if err := c.Patch(ctx, exp, p); err != nil {
			return nil, fmt.Errorf("aborting %s: %w", key, err)
		}
		results = append(results, abortResult{Namespace: key.Namespace, Name: key.Name, RequestedAt: metav1.NewTime(now)})
		fmt.Fprintf(out, "experiment %s: abort requested\n", key)
	}
	if !waitDone {
		return results, nil
	}
	for i, key := range keys {
		start := time.Now()
		prog.Step("waiting for every target of %s to recover", key)
		exp := &v1alpha1.Experiment{}
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, key, exp); apierrors.IsNotFound(err) {
				// Deleted meanwhile: the hub recovers an experiment's
				// targets before it lets the experiment go.
				exp.Status.Phase = "Deleted"
				return true, nil
			} else if err != nil {
				return false, nil //nolint:nilerr // transient: keep polling until the deadline
			}
			return exp.Status.Phase.Terminal(), nil
		})
		if err != nil {
			return nil, fmt.Errorf("waiting for %s to recover: %w", key, err)
		}
		took := time.Since(start).Round(time.Millisecond)
		r := &results[i]
		r.Recovered, r.RecoveryTime, r.Phase = true, took.String(), string(exp.Status.Phase)
		if exp.Status.Verdict != nil {
			r.Verdict = string(exp.Status.Verdict.Result)
		}
		prog.Done()
		fmt.Fprintf(out, "experiment %s: every target recovered (%s)\n", key, took)
	}
	return results, nil
}
