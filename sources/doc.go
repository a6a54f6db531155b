// Package sources turns a Git repository of chaos experiments into validated
// v1alpha1.Experiments: it fetches revisions with go-git into a per-source
// cache, verifies their OpenPGP signatures, builds the experiment path with
// kustomize (or reads it recursively), and decodes every object strictly.
//
// Build is the one entry point shared by the hub and the offline CLI
// (`faultline build`, `faultline plan`), so what a developer sees locally is
// exactly what the hub will accept or reject. A revision is all or nothing:
// any error anywhere rejects it whole, and every error names the file, the
// line of the YAML node and the field path.
//
// Build treats the repository as hostile input: file, total and object
// limits; YAML alias expansion is counted and refused past a budget before
// anything is materialised; every path is confined to the checkout; and
// kustomize runs without remote bases, exec or Go plugins, or Helm.
package sources
