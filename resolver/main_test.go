package resolver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test may leave a goroutine behind: queries abandoned by every lookup
// end, and servers close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
