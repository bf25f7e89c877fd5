package limit_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/mtaguard/mtaguard/limit"
	"github.com/mtaguard/mtaguard/verdict"
)

func Example() {
	// Three failed AUTH attempts an hour per client address.
	auth := limit.New(limit.NewMemory(0), &limit.Options{Rules: []limit.Rule{
		{Counter: limit.AuthFailures, Rate: limit.Rate{Events: 3, Per: time.Hour}},
	}})
	ctx := context.Background()
	client := limit.Facts{IP: netip.MustParseAddr("192.0.2.1")}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		// The server refused a password (535 5.7.8) and reports it.
		if r := auth.Report(ctx, limit.AuthFailures, client, now); r.Action == verdict.TempFail {
			fmt.Println(r.Code, r.Enhanced, r.Reason) // then it closes the connection
		}
	}
	// Before the next AUTH, in this connection or another.
	r := auth.Evaluate(ctx, client, now)
	fmt.Println(r.Code, r.Enhanced, r.Reason)
	// Output:
	// 421 4.7.0 too many failed authentications from 192.0.2.1, try again in 1200s
	// 454 4.7.0 too many failed authentications from 192.0.2.1, try again in 1200s
}

func ExampleListen() {
	// At most 10 connections at once from one address and 50 from one
	// /24 (IPv6: /64 and /48), 30 new ones a minute from one address:
	// the listener answers others 421 4.7.0 before the server sees them.
	conns := limit.New(limit.NewMemory(0), &limit.Options{Rules: []limit.Rule{
		{Counter: limit.Connections, Max: 10},
		{Counter: limit.Connections, IPv4Prefix: 24, IPv6Prefix: 48, Max: 50},
		{Counter: limit.Connects, Rate: limit.Rate{Events: 30, Per: time.Minute}},
	}})
	_ = conns
	// l = limit.Listen(l, conns)
}
