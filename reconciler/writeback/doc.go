// Package writeback tells people the outcome of a run where they already
// look:
//
//   - a commit status on the source revision, through the REST API of the
//     repository's forge (GitHub, GitLab or Gitea; [Provider], [New]), with
//     the context faultline/<namespace>/<name> and a one-line description
//     ([ForVerdict], [Running], [AwaitingApproval], [Denied]);
//   - an audit record per run ([Record]) as a JSON git note on the revision
//     under refs/notes/faultline, pushed with go-git ([Notes]), so that
//     `git log --notes=faultline` shows the history and `faultline audit`
//     lists it ([ReadRemote], [ReadDir]);
//   - hub metrics: verdicts by result and commit-to-verdict seconds
//     ([ObserveVerdict]).
package writeback
