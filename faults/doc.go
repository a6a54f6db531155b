// Package faults is the injection engine shared by the node daemon and the
// host agent: one small, idempotent Apply/Recover pair per fault kind behind
// an explicit Registry, a bbolt Journal written before every effect, and an
// Engine that reaps what a crashed predecessor left behind before it does
// anything else and enforces every injection's deadline on its own.
//
// Everything the engine adds to a machine is recognisably ours: nftables
// tables are named "faultline_<id>" (family inet), tc qdiscs use handle major
// 0xfa00, helper processes run as "faultline-helper" with "--id=<id>" on their
// command line, and disk fill files are named ".faultline-fill-<id>". That is
// what lets Recover work from the journal alone, and tests assert on it.
//
// Network faults on this kind of machine: where the kernel has sch_netem,
// delay and loss use a netem qdisc; where it does not, delay (and jitter) go
// through a userspace path (an nftables rule queues the target's packets to
// an NFQUEUE that the executor serves, holding each packet for its delay) and
// loss through an nftables "numgen random" drop rule in the kernel. Detect
// reports which paths exist; every applied fault records the path it used.
//
// Helper processes (stress) are the executor's own binary re-executed: every
// binary that embeds the engine must call HelperMain first thing in main.
package faults
