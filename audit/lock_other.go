//go:build !unix

package audit

import (
	"fmt"
	"os"
)

// lock opens the sink's lock file; without flock it does not exclude
// another process.
func lock(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return f, nil
}
