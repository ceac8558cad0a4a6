package policy

// LibraryName is the name of the ledger's function library (scripts.go).
func LibraryName() string { return scripts.name }

// RunAsEval makes s run its scripts as EVAL scripts, as on a server without functions.
func RunAsEval(s *Store) { s.noFunctions.Store(true) }

// RunsFunctions tells whether s calls the function library (not EVAL scripts).
func RunsFunctions(s *Store) bool { return !s.noFunctions.Load() }

// IndexKeys names, for the tests, the index records of a session key's or
// session's id: the bucket hash holding it and the string of the earlier layout.
func (s *Store) IndexKeys(id string) (bucket, earlier string) { return s.idsKey(id), s.indexKey(id) }

// AgentIndexKeys names, for the tests, the index records of an agent's keys:
// the hash holding them and the set of the earlier layout.
func (s *Store) AgentIndexKeys(agent string) (hash, earlier string) {
	return s.agentIDsKey(agent), s.agentKeysKey(agent)
}
