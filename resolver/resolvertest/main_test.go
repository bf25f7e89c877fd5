package resolvertest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test may leave a goroutine behind: lookups end with their context,
// and servers close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
