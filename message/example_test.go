package message_test

import (
	"fmt"
	"time"

	"github.com/mtaguard/mtaguard/message"
)

// Two From fields: DMARC would judge one, the reader might show the
// other, so the message is refused.
func ExampleChecker_Evaluate() {
	msg := []byte("From: ceo@example.org\r\nFrom: eve@example.com\r\nTo: staff@example.org\r\n" +
		"Subject: wire the money\r\nDate: Sat, 05 Dec 2026 12:00:00 +0000\r\n\r\nToday, please.\r\n")
	c := message.New(nil)
	env := message.Envelope{MailFrom: "eve@example.com", Rcpts: []string{"staff@example.org"}}
	r := c.Evaluate(env, msg, time.Date(2026, 12, 5, 12, 1, 0, 0, time.UTC))
	fmt.Println(r.Status, r.Action, r.Code, r.Enhanced)
	fmt.Println(r.Reason)
	// Output:
	// fail reject 550 5.6.0
	// malformed: several-from,no-message-id
}

func ExampleInspect() {
	msg := []byte("From: a@example.org\r\nDate: Sat, 05 Dec 2026 12:00:00 +0000\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n")
	now := time.Date(2026, 12, 5, 12, 1, 0, 0, time.UTC)
	fmt.Println(message.Inspect(message.Envelope{}, msg, now, nil))
	fmt.Println(message.Inspect(message.Envelope{EightBitMIME: true}, msg, now, nil))
	// Output:
	// no-message-id,8bit-body
	// no-message-id
}
