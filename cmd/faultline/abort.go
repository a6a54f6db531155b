package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func newAbortCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	var all, wait bool
	var timeout time.Duration
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
			return abortExperiments(ctx, c, keys, wait, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Abort every running experiment in the namespace (or all namespaces with -A).")
	cmd.Flags().BoolP("all-namespaces", "A", false, "With --all: every namespace.")
	cmd.Flags().BoolVar(&wait, "wait", true, "Wait until every target is recovered.")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "How long to wait.")
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

func abortExperiments(ctx context.Context, c client.Client, keys []types.NamespacedName, waitDone bool, out io.Writer) error {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	for _, key := range keys {
		exp := &v1alpha1.Experiment{}
		if err := c.Get(ctx, key, exp); err != nil {
			return fmt.Errorf("experiment %s: %w", key, err)
		}
		p := client.MergeFrom(exp.DeepCopy())
		if exp.Annotations == nil {
			exp.Annotations = map[string]string{}
		}
		exp.Annotations[v1alpha1.AbortAnnotation] = at
		if err := c.Patch(ctx, exp, p); err != nil {
			return fmt.Errorf("aborting %s: %w", key, err)
		}
		fmt.Fprintf(out, "experiment %s: abort requested\n", key)
	}
	if !waitDone {
		return nil
	}
	for _, key := range keys {
		start := time.Now()
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			exp := &v1alpha1.Experiment{}
			if err := c.Get(ctx, key, exp); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			return exp.Status.Phase.Terminal(), nil
		})
		if err != nil {
			return fmt.Errorf("waiting for %s to recover: %w", key, err)
		}
		fmt.Fprintf(out, "experiment %s: every target recovered (%s)\n", key, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
