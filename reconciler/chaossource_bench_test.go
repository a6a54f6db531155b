package reconciler

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-git/go-git/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
	"github.com/faultline-dev/faultline/sources"
)

const (
	benchCommits     = 1000
	benchFiles       = 2000
	benchExperiments = 50 // of the files, under experiments/; the rest is other content
)

// bigRepo fills repo on srv with benchCommits commits and benchFiles files,
// written with git fast-import straight into the bare repository (pushing
// a thousand commits over HTTP would only slow the setup down).
func bigRepo(b *testing.B, srv *gitserver.Server, repo string) {
	b.Helper()
	srv.CreateRepo(b, repo)
	f, err := os.CreateTemp(b.TempDir(), "fast-import")
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	when := int64(1_700_000_000)
	for c := 0; c < benchCommits; c++ {
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@faultline.invalid> %d +0000\n", when+int64(c))
		data(fmt.Sprintf("commit %d", c))
		if c == 0 {
			for i := 0; i < benchFiles; i++ {
				if i < benchExperiments {
					fmt.Fprintf(w, "M 100644 inline experiments/exp-%04d.yaml\n", i)
					data(strings.Replace(killExperiment, "cart-kill", fmt.Sprintf("exp-%04d", i), 1))
					continue
				}
				fmt.Fprintf(w, "M 100644 inline other/dir-%02d/file-%04d.txt\n", i%40, i)
				data(fmt.Sprintf("file %d\n", i))
			}
			continue
		}
		i := benchExperiments + c%(benchFiles-benchExperiments)
		fmt.Fprintf(w, "M 100644 inline other/dir-%02d/file-%04d.txt\n", i%40, i)
		data(fmt.Sprintf("file %d, revision %d\n", i, c))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Env = append(os.Environ(), "GIT_DIR="+srv.RepoPath(repo))
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, out)
	}
}

// countingProxy forwards to the git server and counts fetches (POSTs to
// git-upload-pack) apart from ref advertisements.
type countingProxy struct {
	proxy          *httputil.ReverseProxy
	fetches, lists atomic.Int64
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
		p.fetches.Add(1)
	} else if strings.HasSuffix(r.URL.Path, "/info/refs") {
		p.lists.Add(1)
	}
	p.proxy.ServeHTTP(w, r)
}

// BenchmarkChaosSourceReconcile measures, on a repository of 1,000 commits
// and 2,000 files: a reconcile where nothing changed (no-change), the
// first fetch of a source into an empty cache (shallow-fetch), and a full
// go-git clone of the history (full-clone) for comparison.
func BenchmarkChaosSourceReconcile(b *testing.B) {
	srv := gitserver.Start(b, gitserver.WithLogf(func(string, ...any) {}))
	bigRepo(b, srv, "big")
	target, err := url.Parse(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	counter := &countingProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
	proxy := httptest.NewServer(counter)
	defer proxy.Close()
	repoURL := strings.Replace(srv.RepoURL("big"), srv.URL(), proxy.URL, 1)

	b.Run("no-change", func(b *testing.B) {
		hub := cluster.Start(b, "hub")[0]
		mgr, err := ctrl.NewManager(hub.Config, ctrl.Options{Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
		if err != nil {
			b.Fatal(err)
		}
		// The manager only serves the cache: the benchmark calls Reconcile
		// itself, as the controller would.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		defer func() { cancel(); <-done }()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			b.Fatal("cache did not sync")
		}
		c := hub.Client
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
			b.Fatal(err)
		}
		src := &v1alpha1.ChaosSource{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "big"},
			Spec: v1alpha1.ChaosSourceSpec{URL: repoURL, Path: "experiments", Interval: metav1.Duration{Duration: time.Hour}}}
		if err := c.Create(ctx, src); err != nil {
			b.Fatal(err)
		}
		r := &ChaosSourceReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), CacheRoot: b.TempDir()}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(src)}

		// The first pass clones, builds and applies; passes follow until
		// the cache has seen everything and a pass changes nothing.
		start := time.Now()
		if _, err := r.Reconcile(ctx, req); err != nil {
			b.Fatal(err)
		}
		b.Logf("first reconcile (shallow fetch, checkout, build, apply of %d experiments): %v", benchExperiments, time.Since(start))
		deadline := time.Now().Add(30 * time.Second)
		for {
			fetches := counter.fetches.Load()
			if _, err := r.Reconcile(ctx, req); err != nil {
				b.Fatal(err)
			}
			got := &v1alpha1.ChaosSource{}
			if err := c.Get(ctx, req.NamespacedName, got); err != nil {
				b.Fatal(err)
			}
			list := &v1alpha1.ExperimentList{}
			if err := mgr.GetClient().List(ctx, list, client.InNamespace("bench")); err != nil {
				b.Fatal(err)
			}
			if conditions.IsReady(got) && len(list.Items) == benchExperiments && counter.fetches.Load() == fetches {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("source never settled: ready %v, %d experiments", conditions.IsReady(got), len(list.Items))
			}
			time.Sleep(50 * time.Millisecond)
		}

		fetches, lists := counter.fetches.Load(), counter.lists.Load()
		b.ResetTimer()
		for b.Loop() {
			if _, err := r.Reconcile(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if n := counter.fetches.Load() - fetches; n != 0 {
			b.Errorf("%d fetches during no-change reconciles; want none", n)
		}
		if counter.lists.Load() == lists {
			b.Errorf("no ref advertisement was requested: the remote was not asked")
		}
	})

	b.Run("shallow-fetch", func(b *testing.B) {
		for b.Loop() {
			repo := &sources.Repository{URL: repoURL, CacheDir: b.TempDir() + "/c"}
			rev, err := repo.Resolve(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := repo.Checkout(b.Context(), rev); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("full-clone", func(b *testing.B) {
		for b.Loop() {
			if _, err := git.PlainCloneContext(b.Context(), b.TempDir(), false, &git.CloneOptions{URL: repoURL}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
