package federation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// ErrUnknownCluster is returned for a member the cache has no kubeconfig for.
var ErrUnknownCluster = errors.New("member cluster not connected")

// ErrUnreachable is returned for a member whose health probe is failing; the
// wrapped message says why.
var ErrUnreachable = errors.New("member cluster unreachable")

// Health is what the last probes of a member saw.
type Health struct {
	Reachable           bool
	Version             string
	LastProbe           time.Time
	LastError           string
	ConsecutiveFailures int
}

// ClusterCacheOptions tune the health probes.
type ClusterCacheOptions struct {
	// ProbeInterval between probes of a healthy member (default 10s).
	ProbeInterval time.Duration
	// ProbeTimeout of one probe and of every request through a member client (default 5s).
	ProbeTimeout time.Duration
	// FailureThreshold consecutive failed probes mark a member unreachable (default 1).
	FailureThreshold int
	// MaxBackoff between probes of an unreachable member (default 30s); the
	// wait doubles from ProbeInterval/4 up to it, so a member that comes back
	// is noticed quickly but a dead one is not hammered.
	MaxBackoff time.Duration
	// QPS and Burst of member clients.
	QPS   float32
	Burst int
}

func (o *ClusterCacheOptions) defaults() {
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 10 * time.Second
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 5 * time.Second
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 1
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.QPS == 0 {
		o.QPS, o.Burst = 50, 100
	}
}

// ClusterCache is the one owner of every member-cluster client, in the spirit
// of cluster-api's ClusterCache: it builds a client per kubeconfig, probes
// each member in the background, refuses clients of members that fail their
// probes (so callers fail fast instead of hanging on a dead API server), and
// tells the MemberCluster controller when a member's health changes.
type ClusterCache struct {
	scheme *runtime.Scheme
	opts   ClusterCacheOptions
	log    logr.Logger

	changes chan event.GenericEvent

	mu      sync.RWMutex
	members map[string]*member
	ctx     context.Context // set by Start; probe loops live under it
}

type member struct {
	name       string
	configHash [32]byte
	config     *rest.Config
	client     client.Client
	discovery  discovery.DiscoveryInterface
	stop       context.CancelFunc

	mu     sync.RWMutex
	health Health
}

// NewClusterCache returns a cache whose member clients use scheme.
func NewClusterCache(scheme *runtime.Scheme, log logr.Logger, opts ClusterCacheOptions) *ClusterCache {
	opts.defaults()
	return &ClusterCache{
		scheme:  scheme,
		opts:    opts,
		log:     log,
		changes: make(chan event.GenericEvent, 1024),
		members: map[string]*member{},
	}
}

// Start runs until ctx ends; it makes the cache a manager Runnable and bounds
// the lifetime of every probe loop.
func (c *ClusterCache) Start(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	for _, m := range c.members {
		c.startProbeLocked(m)
	}
	c.mu.Unlock()
	<-ctx.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, m := range c.members {
		m.stop()
		delete(c.members, name)
	}
	return nil
}

// Changes delivers a MemberCluster (name only) each time a member's
// reachability flips; feed it to source.Channel.
func (c *ClusterCache) Changes() <-chan event.GenericEvent { return c.changes }

// Connect makes sure the cache holds a client for name built from
// kubeconfig. The same kubeconfig again is a no-op; a different one replaces
// the client. The first probe runs before Connect returns, so Health is
// meaningful at once.
func (c *ClusterCache) Connect(ctx context.Context, name string, kubeconfig []byte) error {
	hash := sha256.Sum256(kubeconfig)
	c.mu.RLock()
	existing := c.members[name]
	c.mu.RUnlock()
	if existing != nil && existing.configHash == hash {
		return nil
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("parsing kubeconfig of %s: %w", name, err)
	}
	cfg.Timeout = c.opts.ProbeTimeout
	cfg.QPS, cfg.Burst = c.opts.QPS, c.opts.Burst
	cfg.UserAgent = "faultline-hub/" + name
	cl, err := client.New(cfg, client.Options{Scheme: c.scheme})
	if err != nil {
		return fmt.Errorf("client for %s: %w", name, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client for %s: %w", name, err)
	}
	m := &member{name: name, configHash: hash, config: cfg, client: cl, discovery: dc, stop: func() {}}
	c.probe(ctx, m)

	c.mu.Lock()
	if old := c.members[name]; old != nil {
		old.stop()
	}
	c.members[name] = m
	c.startProbeLocked(m)
	c.mu.Unlock()
	c.log.Info("connected member cluster", "memberCluster", name, "reachable", m.Health().Reachable)
	return nil
}

// Disconnect forgets a member and stops probing it.
func (c *ClusterCache) Disconnect(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[name]; m != nil {
		m.stop()
		delete(c.members, name)
	}
}

// Client returns the member's client, or ErrUnknownCluster, or an error
// wrapping ErrUnreachable while its probes fail.
func (c *ClusterCache) Client(name string) (client.Client, error) {
	m, err := c.get(name)
	if err != nil {
		return nil, err
	}
	if h := m.Health(); !h.Reachable {
		return nil, fmt.Errorf("%w: %s: %s", ErrUnreachable, name, h.LastError)
	}
	return m.client, nil
}

// Health returns the member's last probe results.
func (c *ClusterCache) Health(name string) (Health, error) {
	m, err := c.get(name)
	if err != nil {
		return Health{}, err
	}
	return m.Health(), nil
}

func (c *ClusterCache) get(name string) (*member, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m := c.members[name]
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCluster, name)
	}
	return m, nil
}

// Health is safe for concurrent use.
func (m *member) Health() Health {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.health
}

func (c *ClusterCache) notify(name string) {
	mc := &v1alpha1.MemberCluster{}
	mc.Name = name
	select {
	case c.changes <- event.GenericEvent{Object: mc}:
	default: // the controller's periodic resync catches up
	}
}
