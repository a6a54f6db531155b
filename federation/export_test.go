package federation

// KnownCredentials is how many agents' credential hashes the server holds
// in memory: tests wait on it instead of sleeping after a restart.
func (s *AgentServer) KnownCredentials() int {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	n := 0
	for _, st := range s.reg.agents {
		if st.credHash != nil {
			n++
		}
	}
	return n
}
