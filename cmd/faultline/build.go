package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/sources"
)

// errBuildFailed makes the command exit 1 after the errors were printed.
var errBuildFailed = errors.New("build failed")

func newBuildCommand() *cobra.Command {
	var (
		out       *output
		root      string
		namespace string
		showProg  *bool
	)
	cmd := &cobra.Command{
		Use:   "build DIR",
		Short: "Builds and validates the experiments of a directory offline, as the hub would",
		Long: `build runs the hub's build on DIR without a cluster: kustomize when DIR holds a
kustomization.yaml, otherwise every *.yaml, *.yml and *.json below it; Chaos
Mesh PodChaos, NetworkChaos, StressChaos and Schedule manifests are translated.
Every object is decoded strictly and validated with the Experiment CRD's own
schema and CEL rules.

It prints the experiments, or every error as file:line: field: message, and
exits 1 on any error. Files may not leave the repository that holds DIR (the
enclosing Git work tree, else the current directory): kustomize overlays may
reach ../base inside it, never outside.`,
		Example: `  faultline build examples/
  faultline build examples/overlays/prod -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			dir := args[0]
			if root == "" {
				root = buildRoot(dir)
			}
			prog := newProgress(cmd, *showProg)
			prog.Step("building %s", dir)
			res, err := sources.Build(cmd.Context(), dir, sources.BuildOptions{Root: root, DefaultNamespace: namespace})
			prog.Done()
			if be, ok := sources.AsBuildErrors(err); ok {
				printBuildErrors(cmd.ErrOrStderr(), be, root)
				return fmt.Errorf("%w: %d error(s)", errBuildFailed, len(be.Errors))
			}
			if err != nil {
				return err
			}
			return printExperiments(cmd.OutOrStdout(), out, res)
		},
	}
	out = addOutputFlag(cmd, formatTable, formatYAML, formatJSON)
	showProg = addProgressFlag(cmd)
	cmd.Flags().StringVar(&root, "root", "", "Directory the build may not leave. Default: the Git work tree holding DIR, else the current directory.")
	cmd.Flags().StringVar(&namespace, "default-namespace", "", `Namespace of experiments that name none (the hub uses the ChaosSource's). Default: "default".`)
	return cmd
}

// buildRoot is the Git work tree holding dir, else the current directory
// when it holds dir, else dir.
func buildRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return wd
		}
	}
	return dir
}

// printBuildErrors prints one error per line with file names relative to
// the current directory when they are below it, else absolute, so editors
// and terminals can jump to them.
func printBuildErrors(w io.Writer, be *sources.BuildErrors, root string) {
	wd, _ := os.Getwd()
	absRoot, _ := filepath.Abs(root)
	for _, fe := range be.Errors {
		if fe.File != "" && absRoot != "" {
			abs := filepath.Join(absRoot, filepath.FromSlash(fe.File))
			fe.File = filepath.ToSlash(abs)
			if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
				fe.File = filepath.ToSlash(rel)
			}
		}
		fmt.Fprintln(w, fe.Error())
	}
}

// manifest is an experiment as the repository declares it: the status is
// the hub's, and an offline build has none to show.
type manifest struct {
	APIVersion string                  `json:"apiVersion"`
	Kind       string                  `json:"kind"`
	Metadata   *metav1.ObjectMeta      `json:"metadata"`
	Spec       v1alpha1.ExperimentSpec `json:"spec"`
}

// printExperiments prints the build's experiments; -o json and -o yaml are
// a v1 List, which kubectl apply -f accepts as it is.
func printExperiments(w io.Writer, out *output, res *sources.BuildResult) error {
	list := struct {
		APIVersion string     `json:"apiVersion"`
		Kind       string     `json:"kind"`
		Items      []manifest `json:"items"`
	}{"v1", "List", make([]manifest, len(res.Experiments))}
	for i := range res.Experiments {
		e := &res.Experiments[i]
		list.Items[i] = manifest{v1alpha1.GroupVersion.String(), "Experiment", &e.ObjectMeta, e.Spec}
	}
	return out.print(w, list, func(w io.Writer, _ string) error { return printExperimentTable(w, res) })
}

func printExperimentTable(w io.Writer, res *sources.BuildResult) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tFAULT\tTARGETS\tDURATION\tWAVES\tSOURCE")
	for i := range res.Experiments {
		e := &res.Experiments[i]
		dur := "-"
		if e.Spec.Duration != nil {
			dur = e.Spec.Duration.Duration.String()
		}
		if e.Spec.Schedule != "" {
			dur += " @ " + e.Spec.Schedule
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Namespace, e.Name, e.Spec.Fault.Kind(),
			targets(&e.Spec), dur, waves(e.Spec.Placement), e.Annotations[sources.SourceFileAnnotation])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d experiment(s), digest %s\n", len(res.Experiments), res.Digest)
	return err
}

// targets summarises mode and selector: "50% of shop/app.kubernetes.io/name=checkout".
func targets(s *v1alpha1.ExperimentSpec) string {
	var how string
	switch s.Mode {
	case v1alpha1.ModeAll:
		how = "all"
	case v1alpha1.ModeFixed:
		how = s.Value
	case v1alpha1.ModeFixedPercent:
		how = s.Value + "%"
	case v1alpha1.ModeRandomMaxPercent:
		how = "≤" + s.Value + "%"
	default:
		how = "one"
	}
	var sel []string
	for k, v := range s.Selector.LabelSelectors {
		sel = append(sel, k+"="+v)
	}
	sort.Strings(sel)
	where := strings.Join(s.Selector.Namespaces, ",")
	if where == "" {
		where = "*"
	}
	if len(sel) > 0 {
		where += "/" + strings.Join(sel, ",")
	}
	return how + " of " + where
}

func waves(p *v1alpha1.Placement) string {
	if p == nil || len(p.Waves) == 0 {
		return "1"
	}
	names := make([]string, len(p.Waves))
	for i, w := range p.Waves {
		names[i] = w.Name
		if names[i] == "" {
			names[i] = fmt.Sprintf("wave-%d", i+1)
		}
	}
	return strings.Join(names, ",")
}
