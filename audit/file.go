// Package audit holds the audit sink: where a user_wallet's hash-chained audit
// entries go when they leave Redis.
//
// The file sink is an append-only JSON-lines file, after HashiCorp Vault's
// file audit device: one JSON object a line, written and synced before Redis
// lets the entries go. On top of each wallet's own chain (every entry holds
// the hash of the one before), each line holds the SHA-256 of the line before
// it, across rotations, so removing or editing any line, even a wallet's
// whole history, shows. The file rotates by size: the full file is renamed
// with a UTC timestamp suffix and a new one goes on from its last line.
package audit

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stipend/stipend/policy"
)

// DefaultMaxBytes is the size at which the file sink rotates by default.
const DefaultMaxBytes = 64 << 20

// ErrLocked reports a sink file that another process has open: one process
// writes one sink.
var ErrLocked = errors.New("audit: the audit file is open in another process")

// Line is one line of the file sink.
type Line struct {
	Wallet string `json:"wallet"`
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`  // SHA-1 of Entry, as the scripts chain them
	Entry  string `json:"entry"` // the audit entry exactly as it was in Redis
	Prev   string `json:"prev"`  // SHA-256 (hex) of the line before, "" for the very first
}

// FileSink is the append-only, hash-chained JSON-lines audit sink. It is safe
// for concurrent use within a process; one server writes one file.
type FileSink struct {
	path     string
	maxBytes int64
	now      func() time.Time

	mu   sync.Mutex
	lk   *os.File // the lock file, held while the sink is open
	f    *os.File
	size int64
	last string // SHA-256 of the last line written
}

// OpenFile opens (or creates) the file sink at path, rotating past maxBytes
// (DefaultMaxBytes when zero or less).
func OpenFile(path string, maxBytes int64) (*FileSink, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lk, err := lock(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock"))
	if err != nil {
		return nil, err
	}
	s := &FileSink{path: path, maxBytes: maxBytes, now: time.Now, lk: lk}
	ok := false
	defer func() {
		if !ok {
			_ = lk.Close() // gives the lock back; the sink was not opened
		}
	}()
	if err := dropTornLine(path); err != nil {
		return nil, err
	}
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	// The chain goes on from the last line of the newest file that has one.
	for i := len(files) - 1; i >= 0 && s.last == ""; i-- {
		if err := eachLine(files[i], func(_ int, raw []byte) error {
			s.last = lineHash(raw)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// dropTornLine cuts a last line left without its newline by a crash during a
// write: it was never synced, so Redis still holds its entries.
func dropTornLine(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || err == nil && (len(b) == 0 || b[len(b)-1] == '\n') {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	keep := strings.LastIndexByte(string(b), '\n') + 1
	if err := os.Truncate(path, int64(keep)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func (s *FileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Close closes the file and lets its lock go.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.f.Close()
	if lerr := s.lk.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("audit: %w", lerr)
	}
	return err
}

// Path is the file being written.
func (s *FileSink) Path() string { return s.path }

// Archive appends a wallet's entries and syncs the file before returning.
func (s *FileSink) Archive(_ context.Context, wallet string, entries []policy.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf []byte
	last := s.last
	for _, e := range entries {
		b, err := json.Marshal(Line{Wallet: wallet, Seq: e.Seq, Hash: e.Hash, Entry: e.Raw, Prev: last})
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		last = lineHash(b)
		buf = append(append(buf, b...), '\n')
	}
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("audit: write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync %s: %w", s.path, err)
	}
	s.last, s.size = last, s.size+int64(len(buf))
	if s.size >= s.maxBytes {
		return s.rotate()
	}
	return nil
}

// rotate renames the full file with a timestamp suffix and starts a new one.
func (s *FileSink) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	name := s.path + "." + s.now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(s.path, name); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	return s.open()
}

// files lists the sink's files oldest first: the rotated ones, then the current.
func (s *FileSink) files() ([]string, error) {
	rotated, err := filepath.Glob(globEscape(s.path) + ".*")
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	sort.Strings(rotated) // the UTC timestamp suffix sorts by time
	if _, err := os.Stat(s.path); err == nil {
		rotated = append(rotated, s.path)
	}
	return rotated, nil
}

// Archived reads every file of the sink, checks the chain of lines, and
// returns a wallet's entries oldest first.
func (s *FileSink) Archived(_ context.Context, wallet string) ([]policy.AuditEntry, error) {
	s.mu.Lock()
	files, err := s.files()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []policy.AuditEntry
	prev := ""
	for _, name := range files {
		err := eachLine(name, func(n int, raw []byte) error {
			var l Line
			if err := json.Unmarshal(raw, &l); err != nil {
				return sinkBreak(name, n, "the line is not readable")
			}
			if l.Prev != prev {
				return sinkBreak(name, n, "a line before it was edited or removed")
			}
			prev = lineHash(raw)
			if l.Wallet == wallet {
				out = append(out, policy.ParseAuditEntry(l.Entry))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sinkBreak(file string, line int, reason string) error {
	return &policy.AuditBreak{Index: -1, Reason: fmt.Sprintf("audit sink %s line %d: %s", filepath.Base(file), line, reason)}
}

// eachLine calls fn with every non-empty line of a file (numbered from 1).
func eachLine(name string, fn func(n int, raw []byte) error) error {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer func() { _ = f.Close() }() // a file only read: its close has nothing to tell
	r := bufio.NewReaderSize(f, 1<<16)
	for n := 1; ; n++ {
		raw, err := r.ReadBytes('\n')
		if len(raw) > 0 && raw[len(raw)-1] == '\n' {
			raw = raw[:len(raw)-1]
		}
		if len(raw) > 0 {
			if ferr := fn(n, raw); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", name, err)
		}
	}
}

func lineHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

func globEscape(p string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(p)
}
