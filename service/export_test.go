package service

import (
	"context"

	"github.com/stipend/stipend/policy"
)

// RecoverPayments resolves the given in-flight payments as Recover does,
// for tests that hand it a list read before another request settled one.
func (s *Service) RecoverPayments(ctx context.Context, ps []*policy.Payment) (int, int, error) {
	return s.recoverPayments(ctx, ps)
}
