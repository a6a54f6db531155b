package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// relistDelay spaces relists when the watch keeps ending, so a hub that
// drops every watch is not flooded.
const relistDelay = time.Second

// watchStatus prints the current state, then every change the hub's API
// server reports until ctx ends (Ctrl-C), which is not an error. The watch
// resumes from the last resource version it saw when the connection drops
// (client-go's RetryWatcher); when that version has expired it lists again
// and prints only what changed meanwhile.
func watchStatus(ctx context.Context, c client.WithWatch, q *statusQuery, out *output, w io.Writer) error {
	p := &statusPrinter{q: q, out: out, w: w, c: c, last: map[types.NamespacedName]string{}}
	list, err := q.list(ctx, c)
	if err != nil {
		return err
	}
	if err := p.initial(ctx, list.Items); err != nil {
		return err
	}
	rv := list.ResourceVersion
	for {
		if err := p.follow(ctx, rv); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(relistDelay):
		}
		list := &v1alpha1.ExperimentList{}
		if err := c.List(ctx, list, q.listOptions()...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listing experiments: %w", err)
		}
		if err := p.resync(ctx, list.Items); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		rv = list.ResourceVersion
	}
}

// statusPrinter prints a change only when what it shows changed: the hub
// updates status often (probe samples, heartbeats) without any visible change.
type statusPrinter struct {
	q    *statusQuery
	out  *output
	w    io.Writer
	c    client.WithWatch
	cols *columns
	// last is what was printed per experiment, to print changes only.
	last    map[types.NamespacedName]string
	printed int
}

func (p *statusPrinter) initial(ctx context.Context, items []v1alpha1.Experiment) error {
	sortExperiments(items)
	if !p.out.machine() && p.q.name == "" {
		// The header comes first even with no experiment yet, sized for
		// the rows to come so that they line up under it.
		wide := p.out.format == formatWide
		header := statusColumns(p.q.allNamespaces, wide)
		p.cols = &columns{}
		p.cols.fit(header)
		now := time.Now()
		for i := range items {
			p.cols.fit(statusRow(newExperimentStatus(&items[i], nil), p.q.allNamespaces, wide, now))
		}
		if err := p.cols.write(p.w, header); err != nil {
			return err
		}
	}
	for i := range items {
		if err := p.print(ctx, watch.Added, &items[i]); err != nil {
			return err
		}
	}
	return nil
}

// follow prints events from resource version rv on, until the watch ends
// for good (nil: list again) or ctx ends.
func (p *statusPrinter) follow(ctx context.Context, rv string) error {
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return p.c.Watch(ctx, &v1alpha1.ExperimentList{}, append(p.q.listOptions(), &client.ListOptions{Raw: &o})...)
	}}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv, lw)
	if err != nil {
		return fmt.Errorf("watching experiments: %w", err)
	}
	defer rw.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-rw.ResultChan():
			if !ok {
				return nil
			}
			exp, isExp := ev.Object.(*v1alpha1.Experiment)
			switch {
			case ev.Type == watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
					return fmt.Errorf("watching experiments: %w", err)
				}
				// Such as 410 Gone: the version expired; list again.
				return nil
			case !isExp:
				continue
			}
			if err := p.print(ctx, ev.Type, exp); err != nil {
				return err
			}
		}
	}
}

// resync prints what changed while no watch was open, deletions included.
func (p *statusPrinter) resync(ctx context.Context, items []v1alpha1.Experiment) error {
	sortExperiments(items)
	present := map[types.NamespacedName]bool{}
	for i := range items {
		key := client.ObjectKeyFromObject(&items[i])
		present[key] = true
		ev := watch.Modified
		if _, seen := p.last[key]; !seen {
			ev = watch.Added
		}
		if err := p.print(ctx, ev, &items[i]); err != nil {
			return err
		}
	}
	var gone []types.NamespacedName
	for key := range p.last {
		if !present[key] {
			gone = append(gone, key)
		}
	}
	slices.SortFunc(gone, func(a, b types.NamespacedName) int {
		if a.String() < b.String() {
			return -1
		}
		return 1
	})
	for _, key := range gone {
		gone := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		if err := p.print(ctx, watch.Deleted, gone); err != nil {
			return err
		}
	}
	return nil
}

// print writes one change, unless it shows nothing new.
func (p *statusPrinter) print(ctx context.Context, ev watch.EventType, exp *v1alpha1.Experiment) error {
	key := client.ObjectKeyFromObject(exp)
	s := newExperimentStatus(exp, nil)
	if ev == watch.Deleted {
		s.Phase = "Deleted"
	}
	now := time.Now()
	seen := p.fingerprint(s, now)
	if last, ok := p.last[key]; ok && last == seen {
		return nil
	}
	if ev == watch.Deleted {
		delete(p.last, key)
	} else {
		p.last[key] = seen
	}

	// Approvals are read only for what is printed, and only where shown.
	if ev != watch.Deleted && (p.out.machine() || p.q.name != "") {
		approvals, err := p.q.approvals(ctx, p.c, s.Namespace)
		if err != nil {
			return err
		}
		s = newExperimentStatus(exp, approvals)
	}

	defer func() { p.printed++ }()
	switch {
	case p.out.machine():
		return p.out.printLine(p.w, statusEvent{Type: string(ev), Experiment: s})
	case p.q.name != "":
		if p.printed > 0 {
			if _, err := fmt.Fprintf(p.w, "\n--- %s %s\n", now.UTC().Format(time.RFC3339), ev); err != nil {
				return err
			}
		}
		if ev == watch.Deleted {
			_, err := fmt.Fprintf(p.w, "experiment %s deleted\n", key)
			return err
		}
		return printStatusDetail(p.w, s, now)
	}
	return p.cols.write(p.w, statusRow(s, p.q.allNamespaces, p.out.format == formatWide, now))
}

// fingerprint is what a change must alter to be printed: the row without
// its age for tables, the whole summary otherwise.
func (p *statusPrinter) fingerprint(s experimentStatus, now time.Time) string {
	if !p.out.machine() && p.q.name == "" {
		row := statusRow(s, p.q.allNamespaces, p.out.format == formatWide, now)
		ageCol := len(statusColumns(p.q.allNamespaces, false)) - 1
		row[ageCol] = ""
		b, _ := json.Marshal(row)
		return string(b)
	}
	b, _ := json.Marshal(s)
	return string(b)
}
