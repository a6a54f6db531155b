// Package hostagent is the executor on physical and virtual hosts. In fleet
// mode (Agent) it registers with a hub's agent API using a join token,
// heartbeats, renews its client certificate at two thirds of its lifetime
// (no join token needed), and reconciles the injections the hub wants
// against the fault engine. Its dead man's switch recovers every hub-issued fault when the hub
// stays unreachable past its lease; the engine's journal covers crashes.
//
// # Standalone mode
//
// Package hostagent/standalone runs the same engine without a hub
// (`faultline-agent standalone`): a REST API on 127.0.0.1:7410 unless
// --listen says otherwise (described by hostagent/standalone/openapi.yaml,
// also served at /openapi.yaml), driven by the agent's CLI (attack, recover,
// list, schedule, apply). Attacks take the same FaultSpec as an Injection,
// and apply takes the Injection and Experiment manifests a hub sends or a
// repository declares. Every attack has a deadline (default 5m, at most
// --max-duration). Attacks and cron schedules are kept in the engine's bbolt
// journal: after kill -9 the next start reaps every fault, applies again the
// attacks whose deadline is ahead and keeps the schedules; SIGTERM recovers
// every attack. A firing missed while the agent was down is not run late,
// and a firing that finds its schedule's previous attack still active is
// skipped. Both modes default to the same journal, so only one of them runs
// on a host at a time.
package hostagent
