package policy

import (
	"context"
	"fmt"
)

// Wallets returns every user_wallet that has records in the store.
func (s *Store) Wallets(ctx context.Context) ([]string, error) {
	ws, err := s.rdb.SMembers(ctx, s.walletsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: wallets: %w", err)
	}
	return ws, nil
}
