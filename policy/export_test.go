package policy

// LibraryName is the name of the ledger's function library (scripts.go).
func LibraryName() string {
	return scripts.lib[len("#!lua name=") : len("#!lua name=")+len("stipend_")+12]
}

// RunAsEval makes s run its scripts as EVAL scripts, as on a server without functions.
func RunAsEval(s *Store) { s.noFunctions.Store(true) }

// RunsFunctions tells whether s calls the function library (not EVAL scripts).
func RunsFunctions(s *Store) bool { return !s.noFunctions.Load() }
