#!/usr/bin/env bash
# swaks-test.sh: the built smtpd binary, driven by swaks over loopback,
# offline on the demo zone: a DKIM-signed message accepted and delivered
# with Authentication-Results, a relay attempt refused with 554 5.7.1, and a
# forged message refused by DMARC with 550 5.7.26, and a message whose
# first line begins with white space refused with 550 5.6.0.
#
# Usage: bash examples/smtpd/swaks-test.sh   (from the repository root)
# Exits 1 on a wrong answer; without swaks it says so and exits 1 when
# MTAGUARD_REQUIRE_TOOLS=1, 0 otherwise.
set -u
cd "$(dirname "$0")/../.."
if ! command -v swaks >/dev/null; then
  echo "smtpd swaks test: not run (swaks not installed: apt-get install swaks)"
  [ "${MTAGUARD_REQUIRE_TOOLS:-}" = 1 ] && exit 1
  exit 0
fi
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "smtpd swaks test: FAILED: $*"; echo "--- smtpd log"; tail -n 20 "$tmp/log"; exit 1; }

go build -o "$tmp/smtpd" ./examples/smtpd || fail "build"
port=$(( 20000 + RANDOM % 20000 ))
"$tmp/smtpd" -listen "127.0.0.1:$port" -maildir "$tmp/mail" -v \
  -zone examples/testdata/demo.zone -hostname mx.example.net -local example.net >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

send() { swaks --server "127.0.0.1:$port" --timeout 20 --helo mail.example.org --from alice@example.org "$@" 2>&1; }

out=$(send --to bob@example.net --data @examples/testdata/signed.eml) || fail "signed message not accepted: $out"
msg=$(ls "$tmp"/mail/new/* 2>/dev/null | head -n 1)
[ -n "$msg" ] || fail "no message delivered to the Maildir"
grep -q '^Authentication-Results: mx.example.net;' "$msg" || fail "no Authentication-Results in the delivered message"
grep -q 'dkim=pass' "$msg" || fail "the delivered message's Authentication-Results lacks dkim=pass"
echo "1. signed message: accepted, delivered with $(grep -o 'dkim=pass' "$msg" | head -n 1)"

out=$(send --to victim@elsewhere.example)
echo "$out" | grep -q '<\*\* 554 5.7.1' || fail "relay attempt not refused with 554 5.7.1: $out"
echo "2. relay attempt: $(echo "$out" | grep '<\*\* 554' | head -n 1)"

out=$(send --to bob@example.net --data @examples/testdata/forged.eml)
echo "$out" | grep -q '<\*\* 550 5.7.26' || fail "forged message not refused with 550 5.7.26: $out"
echo "3. forged message: $(echo "$out" | grep '<\*\* 550' | head -n 1)"

# A first line that begins with white space would continue our own
# Authentication-Results field (RFC 5322 2.2.3): refused.
{ printf ' ; dkim=pass header.d=paypal.com; dmarc=pass header.from=paypal.com\n'; cat examples/testdata/signed.eml; } >"$tmp/continuation.eml"
out=$(send --to bob@example.net --data @"$tmp/continuation.eml")
echo "$out" | grep -q '<\*\* 550 5.6.0' || fail "a message opening with white space not refused with 550 5.6.0: $out"
echo "4. leading continuation line: $(echo "$out" | grep '<\*\* 550' | head -n 1)"
echo "smtpd swaks test: passed"
