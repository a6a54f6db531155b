package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/daemon"
)

// The static-targets file keeps its old form (no containers) and may name
// a pod's containers; containers pod/failure could not use are refused
// with the file, the pod and the field.
func TestLoadStaticResolverContainers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod := v1alpha1.InjectionTarget{Key: "ns/web", Kind: v1alpha1.TargetPod, Namespace: "ns", Name: "web"}

	r, err := daemon.LoadStaticResolver(write("old.json", `{"ns/web": {"netnsPath": "/run/netns/web"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := r.Resolve(t.Context(), pod)
	if err != nil || tg.NetnsPath != "/run/netns/web" || tg.Containers != nil || tg.Pod == nil {
		t.Errorf("old format: %+v, %v", tg, err)
	}

	r, err = daemon.LoadStaticResolver(write("new.json", `{"ns/web": {"netnsPath": "/run/netns/web",
		"containers": [{"name": "app", "pids": [42, 43]}, {"name": "sidecar", "cgroupPath": "/sys/fs/cgroup/web/sidecar"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	tg, err = r.Resolve(t.Context(), pod)
	if err != nil || len(tg.Containers) != 2 || tg.Containers[0].Name != "app" || len(tg.Containers[0].Pids) != 2 ||
		tg.Containers[1].CgroupPath != "/sys/fs/cgroup/web/sidecar" {
		t.Errorf("containers: %+v, %v", tg.Containers, err)
	}

	for content, want := range map[string]string{
		`{"ns/web": {"containers": [{"pids": [1]}]}}`:                                          `"ns/web": containers[0].name: empty`,
		`{"ns/web": {"containers": [{"name": "a", "pids": [1]}, {"name": "a", "pids": [2]}]}}`: `"ns/web": containers[1].name: "a" appears twice`,
		`{"ns/web": {"containers": [{"name": "a"}]}}`:                                          `"ns/web": containers[0]: "a" has neither pids nor cgroupPath`,
	} {
		p := write("bad.json", content)
		if _, err := daemon.LoadStaticResolver(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to name %s and %s", content, err, p, want)
		}
	}
}
