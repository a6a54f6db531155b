package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// Output formats. json and yaml are the machine formats every printing
// command offers; the others are human ones a command may add.
const (
	formatTable    = "table"
	formatWide     = "wide"
	formatMarkdown = "markdown"
	formatJSON     = "json"
	formatYAML     = "yaml"
)

// output is a command's -o flag and the one printer behind it: json and
// yaml marshal the command's document (one stable shape per command), every
// other format is the command's own human rendering. Every command prints
// through it, so -o means the same everywhere.
type output struct {
	format  string
	formats []string
}

// addOutputFlag registers -o/--output offering formats; the first is the default.
func addOutputFlag(cmd *cobra.Command, formats ...string) *output {
	o := &output{formats: formats}
	cmd.Flags().StringVarP(&o.format, "output", "o", formats[0], "Output format: "+orList(formats)+".")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
	return o
}

// validate fails on a format the command does not offer; call it before any work.
func (o *output) validate() error {
	if !slices.Contains(o.formats, o.format) {
		return fmt.Errorf("--output must be %s, not %q", orList(o.formats), o.format)
	}
	return nil
}

// machine reports whether the format is json or yaml.
func (o *output) machine() bool { return o.format == formatJSON || o.format == formatYAML }

// print writes doc as JSON (indented) or YAML, or calls human with the
// chosen human format.
func (o *output) print(w io.Writer, doc any, human func(w io.Writer, format string) error) error {
	switch o.format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case formatYAML:
		out, err := yaml.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = w.Write(out)
		return err
	}
	return human(w, o.format)
}

// printLine writes doc as one line of JSON (for streams such as --watch:
// one object per line), or as one YAML document after a "---".
func (o *output) printLine(w io.Writer, doc any) error {
	if o.format == formatYAML {
		out, err := yaml.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = fmt.Fprintf(w, "---\n%s", out)
		return err
	}
	return json.NewEncoder(w).Encode(doc)
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// newTable is the tab writer of every human table, aligned as kubectl's.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
}

// age is kubectl's AGE: "5m", "3h12m", "<unknown>" for no time.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
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
