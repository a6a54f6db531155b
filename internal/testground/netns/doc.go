// Package netns builds small virtual networks out of Linux network
// namespaces for integration tests: each "host" (standing for a pod or a
// physical machine) is a named namespace with its own loopback and one veth
// interface, and all hosts plug into a Linux bridge that lives in a private
// "switch" namespace.
//
// Keeping the bridge out of the root namespace means a test network never
// changes the machine's own routing unless a test asks for it with
// WithRootLink, which plugs the root namespace into the switch so that a hub
// running as an ordinary process can talk to agents inside the hosts.
//
// Addresses come from 198.18.0.0/15, the RFC 2544 benchmarking range, so
// they cannot be mistaken for (or leak to) a real network. Everything this
// package creates is named with the prefix "flt", followed by a random id
// and, for namespaces, the creating process id; Sweep uses that to remove
// what a crashed run left behind without touching the networks of test
// processes that are still running.
//
// Creating namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), the
// iproute2 package for Host.Exec, and bridge and veth support in the kernel.
package netns
