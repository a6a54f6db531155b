package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"

	"github.com/faultline-dev/faultline/policy"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Works with Rego policies: runs their tests, shows the built-in library",
	}
	cmd.AddCommand(newPolicyTestCommand(), newPolicyLibraryCommand(), newPolicyManifestCommand())
	return cmd
}

func newPolicyTestCommand() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test DIR",
		Short: "Runs the Rego unit tests (test_* rules) of DIR with OPA's tester",
		Long: `test runs every Rego test rule (test_*) of the .rego files below DIR, Rego v1,
with OPA's tester, as "opa test DIR" would. It fails when any test fails or
errors, and when DIR holds no test at all: a suite that lost its tests must
not pass.

"faultline policy test builtin" tests the built-in library.`,
		Example: `  faultline policy test examples/policies
  faultline policy test builtin -v`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var fsys fs.FS
			if args[0] == "builtin" {
				fsys = policy.LibraryFS()
			} else {
				if _, err := os.Stat(args[0]); err != nil {
					return inputError(err)
				}
				fsys = os.DirFS(args[0])
			}
			results, err := policy.RunTests(cmd.Context(), fsys)
			if errors.Is(err, policy.ErrNoTests) {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			if err != nil {
				return inputError(fmt.Errorf("%s: %w", args[0], err))
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range results {
				r.File = filepath.ToSlash(filepath.Join(args[0], r.File))
				if !r.Passed() {
					failed++
					fmt.Fprintln(out, r)
				} else if verbose {
					fmt.Fprintln(out, r)
				}
			}
			fmt.Fprintf(out, "PASS: %d/%d\n", len(results)-failed, len(results))
			if failed > 0 {
				fmt.Fprintf(out, "FAIL: %d/%d\n", failed, len(results))
				return &exitError{code: 1, err: fmt.Errorf("%d of %d Rego test(s) failed", failed, len(results))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Print passing tests too.")
	return cmd
}

func newPolicyLibraryCommand() *cobra.Command {
	var export string
	cmd := &cobra.Command{
		Use:   "library",
		Short: "Lists the built-in library's rules, or exports their Rego",
		Long: `library lists the rules of the built-in library, for a ChaosPolicy's
spec.library or faultline plan --library. With --export DIR it writes their
Rego and tests there, to read or to copy and adapt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if export != "" {
				return exportLibrary(export)
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(policy.LibraryRules(), "\n"))
			return nil
		},
	}
	cmd.Flags().StringVar(&export, "export", "", "Directory to write the library's .rego files into.")
	return cmd
}

func exportLibrary(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lib := policy.LibraryFS()
	return fs.WalkDir(lib, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(lib, path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.FromSlash(path)), src, 0o644)
	})
}

func newPolicyManifestCommand() *cobra.Command {
	var (
		name, data, enforcement string
		library                 []string
	)
	cmd := &cobra.Command{
		Use:   "manifest DIR",
		Short: "Prints a ChaosPolicy holding the .rego modules of DIR inline, to apply to the hub",
		Long: `manifest turns a policy directory (its .rego files, tests left out) into a
ChaosPolicy with inline modules, the same policy faultline plan --policy DIR
evaluates, ready for kubectl apply on the hub.`,
		Example: `  faultline policy manifest examples/policies --name platform --library '*' | kubectl apply -f -`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := readData(data)
			if err != nil {
				return err
			}
			specs, err := loadPolicies(args[0], params, library)
			if err != nil {
				return err
			}
			loose := specs[len(specs)-1]
			if name == "" {
				name = loose.Name
			}
			// Refuse to print what the hub would refuse to compile.
			if _, err := policy.Compile(cmd.Context(), loose); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			obj := &v1alpha1.ChaosPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChaosPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1alpha1.ChaosPolicySpec{
					Library:     loose.Library,
					Enforcement: v1alpha1.Enforcement(enforcement),
				},
			}
			for _, m := range loose.Modules {
				obj.Spec.Modules = append(obj.Spec.Modules, v1alpha1.PolicyModule{Name: strings.ReplaceAll(m.Name, "/", "."), Rego: m.Source})
			}
			if len(params) > 0 {
				obj.Spec.Data = &apiextensionsv1.JSON{Raw: params}
			}
			out, err := yaml.Marshal(struct {
				APIVersion string                   `json:"apiVersion"`
				Kind       string                   `json:"kind"`
				Metadata   metav1.ObjectMeta        `json:"metadata"`
				Spec       v1alpha1.ChaosPolicySpec `json:"spec"`
			}{obj.APIVersion, obj.Kind, metav1.ObjectMeta{Name: name}, obj.Spec})
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "Name of the ChaosPolicy. Default: the directory's name.")
	cmd.Flags().StringVar(&data, "data", "", "JSON or YAML object of parameters, as spec.data.")
	cmd.Flags().StringSliceVar(&library, "library", nil, `Built-in library rules to include, or "*" for all.`)
	cmd.Flags().StringVar(&enforcement, "enforcement", "enforce", "enforce, warn or dry-run.")
	return cmd
}
