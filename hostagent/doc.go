// Package hostagent is the executor on physical and virtual hosts. In fleet
// mode (Agent) it registers with a hub's agent API using a join token,
// heartbeats, and reconciles the injections the hub wants against the fault
// engine. Its dead man's switch recovers every hub-issued fault when the hub
// stays unreachable past its lease; the engine's journal covers crashes.
package hostagent
