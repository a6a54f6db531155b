package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// statusColumns are the table's columns; wide adds the per-cluster view.
func statusColumns(allNamespaces, wide bool) []string {
	cols := []string{"NAME", "FAULT", "PHASE", "REVISION", "WAVES", "VERDICT", "REASON", "AGE"}
	if allNamespaces {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	if wide {
		cols = append(cols, "CLUSTERS", "TARGETS", "RUN", "MESSAGE")
	}
	return cols
}

// statusRow is one experiment's row: per-wave states ("staging:Done
// prod:Waiting") and, wide, per-cluster ones ("staging-eu:Done").
func statusRow(s experimentStatus, allNamespaces, wide bool, now time.Time) []string {
	row := []string{s.Name, orDash(s.Fault), orDash(s.Phase), orDash(shortRevision(s.Revision)), wavesCell(s),
		orDash(s.Verdict), orDash(s.Reason), age(s.Created, now)}
	if allNamespaces {
		row = append([]string{s.Namespace}, row...)
	}
	if wide {
		var clusters []string
		var injected, selected int32
		for _, c := range s.Clusters {
			clusters = append(clusters, c.Name+":"+memberCell(c))
			injected += c.Injected
			selected += c.Selected
		}
		targets := "-"
		if selected > 0 {
			targets = fmt.Sprintf("%d/%d", injected, selected)
		}
		row = append(row, orDash(strings.Join(clusters, ",")), targets, orDash(s.Run), orDash(cut(oneLine(s.Message), 80)))
	}
	return row
}

func wavesCell(s experimentStatus) string {
	if len(s.Waves) == 0 {
		return "-"
	}
	parts := make([]string, len(s.Waves))
	for i, w := range s.Waves {
		parts[i] = w.Name + ":" + w.State
	}
	return strings.Join(parts, ",")
}

func memberCell(c clusterStatus) string {
	p := orDash(c.Phase)
	if c.Unreachable {
		p += "(unreachable)"
	}
	return p
}

// shortRevision is "main@3f2c1ab" for "main@sha1:3f2c1ab…", as Flux shortens.
func shortRevision(rev string) string {
	ref, digest, ok := strings.Cut(rev, "@")
	if !ok {
		ref, digest = "", rev
	}
	if _, hex, ok := strings.Cut(digest, ":"); ok {
		digest = hex
	}
	if len(digest) > 7 {
		digest = digest[:7]
	}
	if ref == "" {
		return digest
	}
	return ref + "@" + digest
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// columns aligns rows as kubectl does, and keeps the widths it has seen so
// that rows printed later (--watch) line up under the header.
type columns struct {
	indent string
	widths []int
}

// fit widens the columns for rows.
func (c *columns) fit(rows ...[]string) {
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(c.widths) {
				c.widths = append(c.widths, 0)
			}
			c.widths[i] = max(c.widths[i], utf8.RuneCountInString(cell))
		}
	}
}

// write prints rows padded to the widths, three spaces apart.
func (c *columns) write(w io.Writer, rows ...[]string) error {
	c.fit(rows...)
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		line.WriteString(c.indent)
		for i, cell := range r {
			line.WriteString(cell)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", c.widths[i]-utf8.RuneCountInString(cell)+3))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printStatusTable prints the experiments as one table.
func printStatusTable(w io.Writer, doc statusDoc, allNamespaces, wide bool, now time.Time) (*columns, error) {
	rows := [][]string{statusColumns(allNamespaces, wide)}
	for _, s := range doc.Experiments {
		rows = append(rows, statusRow(s, allNamespaces, wide, now))
	}
	c := &columns{}
	return c, c.write(w, rows...)
}

// printStatusDetail prints one experiment as kubectl describe would: the
// run, its waves and members, probes, approvals, conditions and past runs.
func printStatusDetail(w io.Writer, s experimentStatus, now time.Time) error {
	kv := newTable(w)
	field := func(k, v string) { fmt.Fprintf(kv, "%s:\t%s\n", k, v) }
	field("Name", s.Name)
	field("Namespace", s.Namespace)
	field("Fault", orDash(s.Fault))
	if s.Schedule != "" {
		next := ""
		if s.NextScheduleTime != nil {
			next = " (next " + s.NextScheduleTime.UTC().Format(time.RFC3339) + ")"
		}
		field("Schedule", s.Schedule+next)
	}
	field("Phase", orDash(s.Phase))
	field("Revision", orDash(s.Revision))
	field("Run", orDash(s.Run))
	if s.StartTime != nil {
		field("Started", s.StartTime.UTC().Format(time.RFC3339)+" ("+age(*s.StartTime, now)+" ago)")
	}
	if s.EndTime != nil {
		field("Ended", s.EndTime.UTC().Format(time.RFC3339)+" ("+age(*s.EndTime, now)+" ago)")
	}
	verdict := orDash(s.Verdict)
	if s.Verdict != "" && s.Reason != "" {
		verdict += " (" + s.Reason + ")"
	}
	field("Verdict", verdict)
	if s.Verdict == "" && s.Reason != "" {
		field("Reason", s.Reason)
	}
	if s.Message != "" {
		field("Message", oneLine(s.Message))
	}
	if s.AwaitingApproval != "" {
		field("Awaiting approval", s.AwaitingApproval)
	}
	field("Age", age(s.Created, now))
	if err := kv.Flush(); err != nil {
		return err
	}

	section := func(title string, header []string, rows [][]string) error {
		if _, err := fmt.Fprintf(w, "\n%s:\n", title); err != nil {
			return err
		}
		if len(rows) == 0 {
			_, err := fmt.Fprintln(w, "  <none>")
			return err
		}
		c := &columns{indent: "  "}
		return c.write(w, append([][]string{header}, rows...)...)
	}

	var rows [][]string
	for _, wv := range s.Waves {
		mark := ""
		if wv.Name == s.Wave {
			mark = "<- current"
		}
		rows = append(rows, []string{wv.Name, wv.State, orDash(strings.Join(wv.Clusters, ",")), mark})
	}
	if err := section("Waves", []string{"WAVE", "STATE", "CLUSTERS", ""}, rows); err != nil {
		return err
	}

	rows = nil
	for _, c := range s.Clusters {
		started := "-"
		if c.StartTime != nil {
			started = age(*c.StartTime, now) + " ago"
		}
		rows = append(rows, []string{c.Kind, c.Name, orDash(c.Wave), memberCell(c),
			strconv.Itoa(int(c.Selected)), strconv.Itoa(int(c.Injected)), strconv.Itoa(int(c.Recovered)), strconv.Itoa(int(c.Failed)),
			started, orDash(cut(oneLine(c.Message), 60))})
	}
	if err := section("Clusters and injections", []string{"KIND", "NAME", "WAVE", "STATE", "SELECTED", "INJECTED", "RECOVERED", "FAILED", "STARTED", "MESSAGE"}, rows); err != nil {
		return err
	}

	rows = nil
	for _, p := range s.Probes {
		value := "-"
		if p.Value != nil {
			value = strconv.FormatFloat(*p.Value, 'g', 6, 64)
		}
		rows = append(rows, []string{p.Name, p.Mode, p.Result, value, strconv.Itoa(p.Samples), strconv.Itoa(p.Breaches), orDash(cut(oneLine(p.Message), 80))})
	}
	if err := section("Probes", []string{"PROBE", "MODE", "RESULT", "LAST VALUE", "SAMPLES", "BREACHES", "MESSAGE"}, rows); err != nil {
		return err
	}

	rows = nil
	if s.AwaitingApproval != "" {
		rows = append(rows, []string{"-", "pending", "-", "-", "awaiting approval by " + s.AwaitingApproval})
	}
	for _, a := range s.Approvals {
		counts := "counts"
		if !a.Counts {
			counts = "does not count"
			if a.Reason != "" {
				counts += " (" + a.Reason + ")"
			}
		}
		rows = append(rows, []string{a.Name, orDash(a.Approver), shortRevision(a.Revision), counts, orDash(cut(oneLine(a.Comment), 60))})
	}
	if err := section("Approvals", []string{"APPROVAL", "APPROVER", "REVISION", "STATUS", "COMMENT"}, rows); err != nil {
		return err
	}

	rows = nil
	for _, c := range s.Conditions {
		rows = append(rows, []string{c.Type, string(c.Status), orDash(c.Reason), age(c.LastTransitionTime, now), orDash(cut(oneLine(c.Message), 100))})
	}
	if err := section("Conditions", []string{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}, rows); err != nil {
		return err
	}

	rows = nil
	for _, r := range s.History {
		start, dur := "-", "-"
		if r.StartTime != nil {
			start = r.StartTime.UTC().Format(time.RFC3339)
			if r.EndTime != nil {
				dur = r.EndTime.Sub(r.StartTime.Time).Round(time.Second).String()
			}
		}
		rows = append(rows, []string{r.Run, start, dur, orDash(string(r.Verdict)), orDash(cut(oneLine(r.Message), 80))})
	}
	return section("Last runs", []string{"RUN", "STARTED", "DURATION", "VERDICT", "MESSAGE"}, rows)
}
