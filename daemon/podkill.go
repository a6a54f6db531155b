package daemon

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/faults"
)

// podKillState is the plan of a pod kill; there is nothing to undo (the
// pod's controller replaces it).
type podKillState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	Grace     *int64 `json:"grace,omitempty"`
}

// PodKillFault deletes the target pod through the API with the grace
// period asked for, pinned to its UID so a replacement of the same name is
// never hit.
//
// pod/failure is not here: it needs no API, only the pod's processes, and
// is faults.PodFailure (SIGSTOP to the processes of the pod's containers,
// SIGCONT to the same ones at recovery), registered in New.
func PodKillFault(c client.Client) faults.Handler {
	return faults.Pair[podKillState]{
		Prep: func(_ context.Context, _ *faults.Env, req *faults.Request) (string, podKillState, error) {
			if req.Target.Pod == nil {
				return "", podKillState{}, errors.New("pod kill needs a pod target")
			}
			p := req.Target.Pod
			s := podKillState{Namespace: p.Namespace, Name: p.Name, UID: p.UID}
			if req.Fault.Pod != nil {
				s.Grace = req.Fault.Pod.GracePeriodSeconds
			}
			return "api", s, nil
		},
		Do: func(ctx context.Context, _ *faults.Env, s *podKillState) (faults.Live, error) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}}
			opts := []client.DeleteOption{}
			if s.Grace != nil {
				opts = append(opts, client.GracePeriodSeconds(*s.Grace))
			}
			if s.UID != "" {
				uid := types.UID(s.UID)
				opts = append(opts, client.Preconditions{UID: &uid})
			}
			if err := c.Delete(ctx, pod, opts...); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete pod %s/%s: %w", s.Namespace, s.Name, err)
			}
			return nil, nil
		},
		Undo: func(context.Context, *faults.Env, *podKillState) error { return nil },
	}
}
