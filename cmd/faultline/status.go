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
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func newStatusCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	q := &statusQuery{}
	var watch bool
	var out *output
	cmd := &cobra.Command{
		Use:   "status [NAME | NAMESPACE/NAME]",
		Short: "Shows experiments × clusters × verdicts: phase, revision, waves, verdict",
		Long: `status lists the Experiments of the hub with their current run: phase,
revision, the state of each rollout wave, the verdict and why. -o wide adds
each member cluster's and host agent's state and the injected/selected target
counts. Given one experiment, it shows it in detail: waves, clusters and their
injections, probe results, approvals (pending and given), conditions and the
last runs.

--watch keeps printing: a new row (one experiment, one experiment's detail,
or with -o json one JSON object per line) each time an experiment changes,
until interrupted.

-o json and -o yaml print {"experiments": [...]}, every experiment in scope
sorted by namespace and name, each with namespace, name, phase, revision,
fault, wave, waves [{name, state, clusters}], clusters [{kind, name, wave,
phase, selected, injected, recovered, failed, unreachable}], verdict, reason,
message, awaitingApproval, approvals, probes, history, conditions and times.
With --watch -o json each line is {"type": "ADDED|MODIFIED|DELETED",
"experiment": {...}}.`,
		Example: `  faultline status -A
  faultline status -n shop checkout-network-delay
  faultline status -A -o json | jq '.experiments[] | select(.verdict == "Failed")'
  faultline status -n shop --watch`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, ns, err := hubClient(kube)
			if err != nil {
				return err
			}
			q.namespace = ns
			if len(args) == 1 {
				if q.allNamespaces {
					return errors.New("name one experiment or pass --all-namespaces, not both")
				}
				q.namespace, q.name = splitName(ns, args[0])
			}
			if watch {
				return watchStatus(cmd.Context(), c, q, out, cmd.OutOrStdout())
			}
			return printStatus(cmd.Context(), c, q, out, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&q.allNamespaces, "all-namespaces", "A", false, "Experiments of every namespace.")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "After the current state, print every change until interrupted.")
	out = addOutputFlag(cmd, formatTable, formatWide, formatJSON, formatYAML)
	return cmd
}

// splitName reads NAMESPACE/NAME, or NAME in the namespace of the flags.
func splitName(ns, arg string) (string, string) {
	if before, after, ok := strings.Cut(arg, "/"); ok {
		return before, after
	}
	return ns, arg
}

// statusQuery is which experiments status shows.
type statusQuery struct {
	namespace     string
	name          string // one experiment, in detail
	allNamespaces bool
}

func (q *statusQuery) listOptions() []client.ListOption {
	var opts []client.ListOption
	if !q.allNamespaces {
		opts = append(opts, client.InNamespace(q.namespace))
	}
	if q.name != "" {
		opts = append(opts, client.MatchingFields{"metadata.name": q.name})
	}
	return opts
}

// list reads the experiments in scope; a named one that does not exist is
// an error, as with kubectl get.
func (q *statusQuery) list(ctx context.Context, c client.Client) (*v1alpha1.ExperimentList, error) {
	list := &v1alpha1.ExperimentList{}
	if err := c.List(ctx, list, q.listOptions()...); err != nil {
		return nil, fmt.Errorf("listing experiments: %w", err)
	}
	if q.name != "" && len(list.Items) == 0 {
		return nil, fmt.Errorf("experiment %s/%s: %w", q.namespace, q.name,
			apierrors.NewNotFound(v1alpha1.GroupVersion.WithResource("experiments").GroupResource(), q.name))
	}
	return list, nil
}

// approvals reads the Approvals of ns ("" for every namespace the query covers).
func (q *statusQuery) approvals(ctx context.Context, c client.Client, ns string) ([]v1alpha1.Approval, error) {
	list := &v1alpha1.ApprovalList{}
	var opts []client.ListOption
	switch {
	case ns != "":
		opts = append(opts, client.InNamespace(ns))
	case !q.allNamespaces:
		opts = append(opts, client.InNamespace(q.namespace))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		if apierrors.IsForbidden(err) {
			// Someone who may read experiments but not approvals still
			// gets the status, without the approvals.
			return nil, nil
		}
		return nil, fmt.Errorf("listing approvals: %w", err)
	}
	return list.Items, nil
}

// printStatus prints the experiments once.
func printStatus(ctx context.Context, c client.Client, q *statusQuery, out *output, w, errw io.Writer) error {
	list, err := q.list(ctx, c)
	if err != nil {
		return err
	}
	approvals, err := q.approvals(ctx, c, "")
	if err != nil {
		return err
	}
	doc := newStatusDoc(list.Items, approvals)
	now := time.Now()
	return out.print(w, doc, func(w io.Writer, format string) error {
		switch {
		case q.name != "":
			return printStatusDetail(w, doc.Experiments[0], now)
		case len(doc.Experiments) == 0:
			// As kubectl: stdout stays empty, so scripts see no rows.
			where := "."
			if !q.allNamespaces {
				where = " in namespace " + q.namespace + "."
			}
			_, err := fmt.Fprintln(errw, "No experiments found"+where)
			return err
		}
		_, err := printStatusTable(w, doc, q.allNamespaces, format == formatWide, now)
		return err
	})
}
