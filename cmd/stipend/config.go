package main

import (
	"flag"

	"github.com/stipend/stipend"
)

// configFlags registers the settings' flags (and --config) on fs; load reads them after Parse.
type configFlags struct {
	fs     *flag.FlagSet
	path   *string
	values map[string]*string
}

func newConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, values: map[string]*string{}}
	cf.path = fs.String("config", "", "YAML config file (env STIPEND_CONFIG)")
	for _, s := range stipend.Settings() {
		if s.Flag == "" {
			continue
		}
		cf.values[s.Flag] = fs.String(s.Flag, "", s.Usage+" (env "+s.Env()+")")
	}
	return cf
}

// load builds the configuration: defaults, file, env, the flags given.
func (cf *configFlags) load(getenv func(string) string) (stipend.Config, error) {
	set := map[string]string{}
	cf.fs.Visit(func(f *flag.Flag) {
		if v, ok := cf.values[f.Name]; ok {
			set[f.Name] = *v
		}
	})
	return stipend.LoadConfig(*cf.path, getenv, set)
}
