package policy

// IndexKeys names, for the tests, the index records of a session key's or
// session's id: the bucket hash holding it and the string of the earlier layout.
func (s *Store) IndexKeys(id string) (bucket, earlier string) { return s.idsKey(id), s.indexKey(id) }

// AgentIndexKeys names, for the tests, the index records of an agent's keys:
// the hash holding them and the set of the earlier layout.
func (s *Store) AgentIndexKeys(agent string) (hash, earlier string) {
	return s.agentIDsKey(agent), s.agentKeysKey(agent)
}
