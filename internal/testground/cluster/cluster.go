// Package cluster starts real Kubernetes control planes (kube-apiserver and
// etcd, built by hack/envtest-assets.sh) through controller-runtime's envtest,
// with faultline's CRDs installed, several at once: one hub and its members.
//
// Each cluster has its own admin kubeconfig, so a test hands a member to the
// hub exactly as production does: as a kubeconfig in a Secret.
package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/faultline-dev/faultline/crds"
	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground"
)

// Versions the assets script builds; DefaultAssetsDir is where it puts them.
const (
	KubernetesVersion = "1.37.2"
	EtcdVersion       = "3.7.3"
)

// Scheme knows the built-in kinds, CRDs and faultline's kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// AssetsDir returns the directory holding kube-apiserver and etcd:
// KUBEBUILDER_ASSETS when set, else the cache hack/envtest-assets.sh fills.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cache, err := testground.CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "envtest", "k8s-"+KubernetesVersion+"-etcd-"+EtcdVersion)
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("no %s in %s: run `make envtest-assets` (or set KUBEBUILDER_ASSETS): %w", bin, dir, err)
		}
	}
	return dir, nil
}

// Cluster is one running control plane.
type Cluster struct {
	// Name identifies the cluster in tests and in kubeconfig contexts.
	Name string
	// Config is an admin (system:masters) REST config.
	Config *rest.Config
	// Client is a controller-runtime client with Scheme().
	Client client.Client
	// KubeConfig is Config as a kubeconfig file's bytes.
	KubeConfig []byte

	env     *envtest.Environment
	certDir string
}

// New starts one control plane and installs faultline's CRDs in it.
func New(name string) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		began := time.Now()
		c, err := start(name, assets, defs)
		// envtest picks etcd's and the API server's ports from the
		// ephemeral range, where another process (or an outgoing
		// connection) may take one before the binary binds it; the binary
		// then exits at once. A start that failed fast gets new ports; one
		// that timed out would only time out again.
		if err == nil || attempt == startAttempts || time.Since(began) > 30*time.Second {
			return c, err
		}
	}
}

// startAttempts bounds how often New tries a control plane that exits
// while starting.
const startAttempts = 3

// start is one attempt of New, with fresh ports and certificates.
func start(name, assets string, defs []*apiextensionsv1.CustomResourceDefinition) (*Cluster, error) {
	// The API server's certificates live in a directory we own, so that
	// StopAPIServer/StartAPIServer keep the serving certificate, the client
	// CA and the port: kubeconfigs handed out stay valid across a restart.
	certDir, err := os.MkdirTemp("", "faultline-apiserver-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating certificate directory: %w", err)
	}
	scheme := Scheme()
	env := &envtest.Environment{
		// Generous: CI machines are small and run several packages at once.
		ControlPlaneStartTimeout: 3 * time.Minute,
		BinaryAssetsDirectory:    assets,
		Scheme:                   scheme,
		CRDInstallOptions:        envtest.CRDInstallOptions{CRDs: defs, Scheme: scheme},
	}
	env.ControlPlane.GetAPIServer().CertDir = certDir
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting control plane %q: %w", name, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("client for %q: %w", name, err)
	}
	kc, err := kubeConfig(name, cfg)
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, err
	}
	return &Cluster{Name: name, Config: cfg, Client: c, KubeConfig: kc, env: env, certDir: certDir}, nil
}

// startConcurrency bounds how many control planes start at once: each
// start is CPU-heavy, and on a small machine a dozen at once time out.
const startConcurrency = 4

// StartAll starts one control plane per name, several at a time. On any
// failure it stops those that started and returns the errors joined.
func StartAll(names ...string) ([]*Cluster, error) {
	out := make([]*Cluster, len(names))
	errs := make([]error, len(names))
	slots := make(chan struct{}, startConcurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			out[i], errs[i] = New(name)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range out {
			if c != nil {
				_ = c.Stop()
			}
		}
		return nil, err
	}
	return out, nil
}

// Stop stops the API server and etcd and removes their data.
func (c *Cluster) Stop() error {
	if c == nil || c.env == nil {
		return nil
	}
	err := c.env.Stop()
	_ = os.RemoveAll(c.certDir)
	if err != nil {
		return fmt.Errorf("stopping control plane %q: %w", c.Name, err)
	}
	return nil
}

// StopAPIServer stops the kube-apiserver only (etcd keeps the data), as when
// a member cluster becomes unreachable.
func (c *Cluster) StopAPIServer() error {
	if err := c.env.ControlPlane.GetAPIServer().Stop(); err != nil {
		return fmt.Errorf("stopping API server of %q: %w", c.Name, err)
	}
	return nil
}

// StartAPIServer starts a stopped kube-apiserver again on the same address
// with the same certificates, so existing kubeconfigs work again.
func (c *Cluster) StartAPIServer() error {
	if err := c.env.ControlPlane.GetAPIServer().Start(); err != nil {
		return fmt.Errorf("restarting API server of %q: %w", c.Name, err)
	}
	return nil
}

// KubeConfigSecretKey is the key under which KubeConfigSecret stores the kubeconfig.
const KubeConfigSecretKey = "value"

// KubeConfigSecret returns a Secret holding this cluster's kubeconfig, ready
// to create in the hub for a MemberCluster's kubeConfigSecretRef.
func (c *Cluster) KubeConfigSecret(namespace, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{KubeConfigSecretKey: c.KubeConfig},
	}
}
