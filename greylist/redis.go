package greylist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix begins the names of the keys a Redis store uses.
const DefaultRedisPrefix = "mtaguard:greylist:"

// Redis is a Store in Redis (or Valkey, through Sentinel or Cluster: any
// redis.UniversalClient), for several MX hosts that share one greylisting
// history. Each Observe is one round trip: a Lua script (EVALSHA, with EVAL
// once after the server lost its script cache) that reads and updates the
// triplet's and the network's records atomically, so engines on different
// connections and hosts see one history.
//
// A triplet is a hash at PREFIX{N}:t:DIGEST and a network's auto-allow
// record a hash at PREFIX{N}:n, where N is a digest of the client network
// and DIGEST the triplet's: no address is stored, and the {N} hash tag
// puts both keys of a check in one Cluster slot. Every write sets the key's
// TTL to the record's remaining life (RetryWindow or Lifetime), so Redis
// itself expires what is no longer needed; the decisions use only the
// times stored in the records and the time passed to Observe. Redis keeps
// the history across its own restarts only if it is configured to persist
// (RDB or AOF).
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a Store that keeps its records in c under keys that
// begin with prefix ("" means DefaultRedisPrefix).
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{c: c, prefix: prefix}
}

// observeScript applies the rules of Store. KEYS: the triplet's record, the
// network's record. ARGV: now, delay, retry window, lifetime, auto-allow
// count, count spacing; times in milliseconds. Reply: {state, first seen}.
// Numbers are written with %.0f: Lua 5.1's tostring would round them to 14
// digits.
var observeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local life = tonumber(ARGV[4])
local auto = tonumber(ARGV[5])
local every = tonumber(ARGV[6])
local function n(x) return string.format('%.0f', x) end

local count, last = 0, 0
if auto > 0 then
  local r = redis.call('HMGET', KEYS[2], 'c', 'l', 'e')
  if r[3] and tonumber(r[3]) > now then
    count = tonumber(r[1]) or 0
    last = tonumber(r[2]) or 0
    if count >= auto then
      redis.call('HSET', KEYS[2], 'e', n(now + life))
      redis.call('PEXPIRE', KEYS[2], n(life))
      return {4, '0'}
    end
  end
end

local t = redis.call('HMGET', KEYS[1], 'p', 'f', 'e')
local first = tonumber(t[2])
if not first or not t[3] or tonumber(t[3]) <= now then
  redis.call('HSET', KEYS[1], 'p', '0', 'f', n(now), 'e', n(now + window))
  redis.call('PEXPIRE', KEYS[1], n(window))
  return {0, n(now)}
end
local state = 3
if t[1] ~= '1' then
  if now < first + delay then
    return {1, n(first)}
  end
  state = 2
end
redis.call('HSET', KEYS[1], 'p', '1', 'e', n(now + life))
redis.call('PEXPIRE', KEYS[1], n(life))
if auto > 0 then
  if count == 0 or now - last >= every then
    count = count + 1
    last = now
  end
  redis.call('HSET', KEYS[2], 'c', n(count), 'l', n(last), 'e', n(now + life))
  redis.call('PEXPIRE', KEYS[2], n(life))
end
return {state, n(first)}
`)

// keys returns the names of the triplet's and the network's records.
func (r *Redis) keys(k Key) (triplet, network string) {
	a := k.Net.Addr().As16()
	b := append(a[:], byte(k.Net.Bits()))
	sum := sha256.Sum256(b)
	tag := r.prefix + "{" + hex.EncodeToString(sum[:8]) + "}:"
	return tag + "t:" + hex.EncodeToString(k.Triplet[:]), tag + "n"
}

// Observe implements Store.
func (r *Redis) Observe(ctx context.Context, k Key, t time.Time, rules Rules) (Outcome, error) {
	tk, nk := r.keys(k)
	reply, err := observeScript.Run(ctx, r.c, []string{tk, nk},
		t.UnixMilli(), rules.Delay.Milliseconds(), rules.RetryWindow.Milliseconds(),
		rules.Lifetime.Milliseconds(), rules.AutoAllow, rules.CountEvery.Milliseconds()).Slice()
	if err != nil {
		return Outcome{}, fmt.Errorf("greylist: redis: %w", err)
	}
	if len(reply) != 2 {
		return Outcome{}, errors.New("greylist: redis: unexpected reply")
	}
	state, ok := reply[0].(int64)
	first, ok2 := reply[1].(string)
	ms, err := strconv.ParseInt(first, 10, 64)
	if !ok || !ok2 || err != nil || state < 0 || state > int64(AutoAllowed) {
		return Outcome{}, errors.New("greylist: redis: unexpected reply")
	}
	out := Outcome{State: State(state)}
	if out.State != AutoAllowed {
		out.First = time.UnixMilli(ms)
	}
	return out, nil
}
