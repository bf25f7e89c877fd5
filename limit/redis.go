package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix begins the names of the keys a Redis store uses.
const DefaultRedisPrefix = "mtaguard:limit:"

// Redis is a Store in Redis (or Valkey; any redis.UniversalClient:
// a single server, Sentinel or Cluster), for several SMTP servers that
// enforce one set of limits together. A decision is one round trip: a Lua
// script (EVALSHA) per group of keys that share a Cluster slot, all in
// one pipeline; after the server lost its script cache, the script is
// loaded and the decision retried once.
//
// A rate counter is a string holding its theoretical arrival time, a
// concurrency counter a sorted set of leases scored by their expiry; each
// key's TTL is the time until it carries no information (the counter is
// idle, the last lease expired), so Redis drops what is no longer
// needed. A key is PREFIX{SUBJECT}:RULE: SUBJECT, the Cluster hash tag,
// is the client's network ("4:192.0.2.0/24") or a digest of the user,
// sender or domain (no address is stored), so that the counters of
// several rules on one subject share a slot. prefix should hold no '{'.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a Store that keeps its counters in c under keys that
// begin with prefix ("" means DefaultRedisPrefix).
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{c: c, prefix: prefix}
}

// doScript carries out the ops of one slot. KEYS: the counters. ARGV[1]:
// now in microseconds; then four per key: kind (0 take, 1 peek,
// 2 acquire, 3 release) and, for take and peek, interval, burst, events;
// for acquire, max, lease, TTL; for release, -, lease, -. Reply: three
// integers per key: ok, left, retry. It is gcra and Memory.do in Lua;
// numbers are written with %.0f because Lua 5.1's tostring keeps only 14
// digits.
var doScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local function n(x) return string.format('%.0f', x) end
local out = {}
local a = 2
for _, k in ipairs(KEYS) do
  local kind = tonumber(ARGV[a])
  local ok, left, retry = 0, 0, 0
  if kind <= 1 then
    local iv, burst, ev = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
    if iv > 0 and burst > 0 then
      local tat = tonumber(redis.call('GET', k)) or 0
      if tat < now then tat = now end
      local tau = burst * iv
      local nt = tat + ev * iv
      if nt - now > tau then
        retry = nt - tau - now
        left = math.floor(math.max(now + tau - tat, 0) / iv)
      else
        ok = 1
        left = math.floor((now + tau - nt) / iv)
        if left == 0 then retry = nt + iv - tau - now end
        if kind == 0 and nt > now then
          redis.call('SET', k, n(nt), 'PX', n(math.ceil((nt - now) / 1000)))
        end
      end
    end
  elseif kind == 2 then
    local mx, name, ttl = tonumber(ARGV[a+1]), ARGV[a+2], tonumber(ARGV[a+3])
    redis.call('ZREMRANGEBYSCORE', k, '-inf', n(now))
    local held = redis.call('ZSCORE', k, name)
    left = redis.call('ZCARD', k)
    if held or left < mx then
      if not held then left = left + 1 end
      redis.call('ZADD', k, n(now + ttl), name)
      redis.call('PEXPIRE', k, n(math.ceil(ttl / 1000)))
      ok = 1
    end
  else
    redis.call('ZREMRANGEBYSCORE', k, '-inf', n(now))
    redis.call('ZREM', k, ARGV[a+2])
    left = redis.call('ZCARD', k)
    ok = 1
  end
  out[#out+1] = ok
  out[#out+1] = left
  out[#out+1] = retry
  a = a + 4
end
return out
`)

// key returns the name of k's counter and its hash tag.
func (r *Redis) key(k *Key) (name, tag string) {
	var b strings.Builder
	b.WriteString(r.prefix)
	b.WriteByte('{')
	start := b.Len()
	if k.Prefix.IsValid() {
		if k.Prefix.Addr().Is4() {
			b.WriteString("4:")
		} else {
			b.WriteString("6:")
		}
		b.WriteString(k.Prefix.String())
	} else {
		sum := sha256.Sum256([]byte(k.Name))
		b.WriteString("n:")
		b.WriteString(hex.EncodeToString(sum[:12]))
	}
	end := b.Len()
	b.WriteString("}:")
	b.WriteString(k.Rule)
	b.WriteByte(':')
	b.WriteString(k.Counter.String())
	s := b.String()
	return s, s[start:end]
}

type slot struct {
	keys []string
	args []any
	ops  []*Op
	cmd  *redis.Cmd
}

// Do implements Store.
func (r *Redis) Do(ctx context.Context, now time.Time, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	t := now.UnixMicro()
	var slots []*slot
	byTag := map[string]*slot{}
	for i := range ops {
		op := &ops[i]
		name, tag := r.key(&op.Key)
		s := byTag[tag]
		if s == nil {
			s = &slot{args: []any{t}}
			byTag[tag] = s
			slots = append(slots, s)
		}
		s.keys = append(s.keys, name)
		s.ops = append(s.ops, op)
		switch op.Kind {
		case Take, Peek:
			iv, burst := op.Rate.interval()
			s.args = append(s.args, int(op.Kind), iv, burst, op.N)
		case Acquire:
			s.args = append(s.args, int(op.Kind), op.Max, op.Lease, max(op.TTL.Microseconds(), 1))
		case Release:
			s.args = append(s.args, int(op.Kind), 0, op.Lease, 0)
		default:
			return fmt.Errorf("limit: unknown op %d", op.Kind)
		}
	}
	err := r.run(ctx, slots)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache (a restart, SCRIPT FLUSH).
		if err = doScript.Load(ctx, r.c).Err(); err == nil {
			err = r.run(ctx, slots)
		}
	}
	if err != nil {
		return fmt.Errorf("limit: redis: %w", err)
	}
	for _, s := range slots {
		if err := s.read(); err != nil {
			return err
		}
	}
	return nil
}

// run sends the slots' scripts: one command, or one pipeline.
func (r *Redis) run(ctx context.Context, slots []*slot) error {
	if len(slots) == 1 {
		s := slots[0]
		s.cmd = doScript.EvalSha(ctx, r.c, s.keys, s.args...)
		return s.cmd.Err()
	}
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range slots {
			s.cmd = doScript.EvalSha(ctx, p, s.keys, s.args...)
		}
		return nil
	})
	return err
}

var errReply = errors.New("limit: redis: unexpected reply")

func (s *slot) read() error {
	v, err := s.cmd.Int64Slice()
	if err != nil {
		return fmt.Errorf("limit: redis: %w", err)
	}
	if len(v) != 3*len(s.ops) {
		return errReply
	}
	for i, op := range s.ops {
		op.OK = v[3*i] == 1
		op.Left = int(v[3*i+1])
		op.Retry = time.Duration(v[3*i+2]) * time.Microsecond
	}
	return nil
}
