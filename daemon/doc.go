// Package daemon is the node executor of a member cluster: a
// controller-runtime reconciler of the Injections written for its own node
// (watched through a label selector on faultline.dev/node, so the daemon
// never lists anything else), running each fault with the faults engine
// inside the target pods' network namespaces and cgroups, reporting
// per-target status with measured values, and recovering on delete (a
// finalizer), on deadline (the engine's own timer, whether or not the API
// server is reachable) and after a crash (the engine's reaper).
//
// Finding a pod's network namespace and cgroup is behind Resolver. In
// production CRIResolver asks the container runtime over its CRI socket. In
// tests StaticResolver is the test binding: the test ground's network
// namespaces are registered as pods under their namespace/name keys (the
// binary takes the same binding as a file, --static-targets).
//
// Status: each target reports Injected with the path its fault took
// ("nfqueue", "nftables", "tbf", "helper", "signal", "file", "api", "netem")
// and the values measured on it, refreshed every ResyncInterval; the
// Injection's Ready and Injected conditions summarise the targets. Failures
// that retrying cannot fix (bad spec, fault unsupported on this kernel)
// mark the Injection Stalled; others are retried with backoff.
//
// What the DaemonSet needs: hostPID (to reach pods' /proc/PID/ns/net and
// kill helper and target processes), hostNetwork (host targets are the
// daemon's own namespace), CAP_NET_ADMIN, CAP_SYS_ADMIN (setns),
// CAP_KILL, the host's /sys/fs/cgroup, the CRI socket, and a hostPath for
// the journal so that it survives the daemon's pod.
//
// A daemon that stops on purpose (SIGTERM) recovers everything it applied;
// one that is killed leaves its journal, and its successor recovers
// everything in it before it even connects to the API server, then
// re-applies what the Injections still ask for.
package daemon
