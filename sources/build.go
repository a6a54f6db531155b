package sources

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Defaults of BuildOptions' limits. They are far above what a chaos
// repository needs and far below what would hurt the hub.
const (
	DefaultMaxFileBytes  int64 = 1 << 20  // 1 MiB per file
	DefaultMaxTotalBytes int64 = 16 << 20 // 16 MiB per build
	DefaultMaxObjects          = 1000     // objects per build
	DefaultNamespace           = "default"
)

// BuildOptions tunes Build. The zero value is ready to use.
type BuildOptions struct {
	// Root is the checkout the build must stay inside: every file read,
	// through kustomize or not, resolves (symlinks included) below Root, and
	// error file names are relative to it. Empty: dir itself.
	Root string

	// DefaultNamespace is given to experiments that name none. The hub
	// passes the ChaosSource's namespace, as Flux's kustomize-controller
	// does with its own; empty means "default" (what kubectl would use).
	DefaultNamespace string

	// Ignore holds .gitignore-style patterns (ChaosSource.spec.ignore) of
	// files the recursive read leaves out. Kustomize builds read only what
	// their kustomization names, so Ignore does not apply to them.
	Ignore string

	// MaxFileBytes bounds one file; MaxTotalBytes all files read;
	// MaxObjects the number of objects. Zero means the Default* values.
	MaxFileBytes  int64
	MaxTotalBytes int64
	MaxObjects    int
}

func (o BuildOptions) withDefaults() BuildOptions {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.MaxObjects <= 0 {
		o.MaxObjects = DefaultMaxObjects
	}
	if o.DefaultNamespace == "" {
		o.DefaultNamespace = DefaultNamespace
	}
	return o
}

// BuildResult is a revision's experiments, all valid.
type BuildResult struct {
	// Experiments sorted by namespace/name; each carries the annotation
	// faultline.dev/source-file = "path:line".
	Experiments []v1alpha1.Experiment
	// Digest is sha256:<hex> of the canonical build output, so a revision
	// that changes no experiment keeps its digest.
	Digest string
}

// Build builds dir as the hub does (kustomize when dir/kustomization.yaml
// exists, else recursive *.yaml/*.yml/*.json read, where a subdirectory with
// its own kustomization.yaml is built with kustomize as one unit), decodes
// strictly into v1alpha1.Experiment (also translating Chaos Mesh PodChaos,
// NetworkChaos, StressChaos and their Schedule), and validates with the
// Experiment CRD's schema and CEL rules. On any error it returns a
// *BuildErrors holding every error found, never a partial result.
func Build(ctx context.Context, dir string, opts BuildOptions) (*BuildResult, error) {
	opts = opts.withDefaults()
	schema, err := loadExperimentSchema()
	if err != nil {
		return nil, fmt.Errorf("loading the Experiment schema: %w", err)
	}
	b, err := newBuilder(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	b.dec = &decoder{ctx: ctx, schema: schema, errs: b.errs, namespace: opts.DefaultNamespace}

	if hasKustomization(b.dir) {
		b.kustomize(b.dir)
	} else {
		b.readTree(b.dir)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.checkDuplicates()
	if !b.errs.empty() {
		return nil, b.errs.sorted()
	}
	slices.SortFunc(b.out, func(a, c v1alpha1.Experiment) int {
		return cmp.Or(cmp.Compare(a.Namespace, c.Namespace), cmp.Compare(a.Name, c.Name))
	})
	digest, err := digestOf(b.out)
	if err != nil {
		return nil, err
	}
	return &BuildResult{Experiments: b.out, Digest: digest}, nil
}

// builder holds the state of one Build.
type builder struct {
	ctx   context.Context
	opts  BuildOptions
	root  string // absolute, symlinks resolved
	dir   string // absolute, symlinks resolved, inside root
	errs  *BuildErrors
	dec   *decoder
	total int64 // bytes read so far
	objs  int   // objects seen so far
	out   []v1alpha1.Experiment
}

func newBuilder(ctx context.Context, dir string, opts BuildOptions) (*builder, error) {
	rootArg := opts.Root
	if rootArg == "" {
		rootArg = dir
	}
	absRoot, err := realPath(rootArg)
	if err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	b := &builder{ctx: ctx, opts: opts, root: absRoot, errs: &BuildErrors{}}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// Name the directory as the repository does, never by its place on
	// the hub's disk.
	name := b.rel(absDir)
	if b.dir, err = confine(absRoot, absDir); err != nil {
		return nil, &BuildErrors{Errors: []FieldError{{File: name, Message: "the build path escapes the checkout"}}}
	}
	if fi, err := os.Stat(b.dir); err != nil || !fi.IsDir() {
		return nil, &BuildErrors{Errors: []FieldError{{File: name, Message: "no such directory"}}}
	}
	return b, nil
}

// rel names an absolute path for errors: slash-separated, relative to root.
func (b *builder) rel(abs string) string {
	r, err := filepath.Rel(b.root, abs)
	if err != nil {
		return filepath.ToSlash(abs)
	}
	return filepath.ToSlash(r)
}

// countObject enforces MaxObjects; false once the limit is passed.
func (b *builder) countObject(file string, line int) bool {
	b.objs++
	if b.objs == b.opts.MaxObjects+1 {
		b.errs.add(file, line, "", "more than %d objects in this build; refused", b.opts.MaxObjects)
	}
	return b.objs <= b.opts.MaxObjects
}

// checkDuplicates refuses two objects with one namespace/name: the second
// would silently replace the first on the cluster.
func (b *builder) checkDuplicates() {
	seen := map[string]string{}
	for _, e := range b.out {
		key := e.Namespace + "/" + e.Name
		at := e.Annotations[SourceFileAnnotation]
		if first, dup := seen[key]; dup {
			file, line := splitFileLine(at)
			b.errs.add(file, line, "metadata.name", "experiment %s is also declared at %s", key, first)
			continue
		}
		seen[key] = at
	}
}

// digestOf hashes the canonical JSON of the sorted experiments.
func digestOf(exps []v1alpha1.Experiment) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for i := range exps {
		if err := enc.Encode(&exps[i]); err != nil {
			return "", fmt.Errorf("digest: %w", err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// AsBuildErrors returns the *BuildErrors inside err, if any.
func AsBuildErrors(err error) (*BuildErrors, bool) {
	var be *BuildErrors
	ok := errors.As(err, &be)
	return be, ok
}
