package reconciler

import (
	"context"
	"encoding/json"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kptr "k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// ApprovalWebhookPath is where the hub serves the Approval webhook.
const ApprovalWebhookPath = "/mutate-faultline-dev-v1alpha1-approval"

// ApprovalApprover is a mutating admission webhook that writes who approved:
// on create, spec.approver becomes the identity the API server
// authenticated for the request, whatever the user typed; on update, it is
// carried over from the stored object (the CRD's CEL rule keeps the spec
// immutable anyway). Policies decide which of these identities count.
type ApprovalApprover struct {
	decoder admission.Decoder
}

// NewApprovalWebhook returns the webhook, ready to register on a
// controller-runtime webhook server at ApprovalWebhookPath.
func NewApprovalWebhook(scheme *runtime.Scheme) *webhook.Admission {
	return &webhook.Admission{Handler: &ApprovalApprover{decoder: admission.NewDecoder(scheme)}}
}

// +kubebuilder:webhook:path=/mutate-faultline-dev-v1alpha1-approval,mutating=true,failurePolicy=fail,sideEffects=None,groups=faultline.dev,resources=approvals,verbs=create;update,versions=v1alpha1,name=approvals.faultline.dev,admissionReviewVersions=v1

// Handle sets spec.approver.
func (h *ApprovalApprover) Handle(_ context.Context, req admission.Request) admission.Response {
	a := &v1alpha1.Approval{}
	if err := h.decoder.Decode(req, a); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	switch req.Operation {
	case admissionv1.Create:
		if req.UserInfo.Username == "" {
			return admission.Denied("the request carries no authenticated user to record as approver")
		}
		a.Spec.Approver = &v1alpha1.UserIdentity{
			Username: req.UserInfo.Username,
			UID:      req.UserInfo.UID,
			Groups:   append([]string(nil), req.UserInfo.Groups...),
		}
	case admissionv1.Update:
		old := &v1alpha1.Approval{}
		if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		a.Spec.Approver = old.Spec.Approver
	default:
		return admission.Allowed("")
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

// ApprovalWebhookConfiguration is the MutatingWebhookConfiguration that
// sends Approval creates and updates to the hub. It fails closed: without
// the webhook, no Approval can be created, since one without a verified
// approver would be worthless.
func ApprovalWebhookConfiguration(name string, client admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "approvals.faultline.dev",
			ClientConfig: client,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{v1alpha1.GroupVersion.Group},
					APIVersions: []string{v1alpha1.GroupVersion.Version},
					Resources:   []string{"approvals"},
					Scope:       kptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			FailurePolicy:           kptr.To(admissionregistrationv1.Fail),
			SideEffects:             kptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			// The approver must be final: no later webhook may change it.
			ReinvocationPolicy: kptr.To(admissionregistrationv1.NeverReinvocationPolicy),
		}},
	}
}
