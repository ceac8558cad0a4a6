//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lock takes the sink's lock file for this process (an exclusive flock, let
// go when the process ends), so that two processes never append to one sink.
func lock(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // not ours: nothing was written to it
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("audit: lock %s: %w", name, err)
	}
	return f, nil
}
