#!/usr/bin/env bash
# postfix-test.sh: examples/policyd behind a real Postfix.
#
# Starts policyd on loopback, offline on a small zone, and a private Postfix
# instance (its own configuration and queue under a temporary directory, so
# a system Postfix is left alone) whose smtpd asks policyd through
# check_policy_service. Then, with swaks, shows:
#   1. a relay attempt refused by the policy with 554 5.7.1;
#   2. a new sender greylisted with 450 4.7.1, and accepted after the delay.
#
# Installs postfix with apt-get when it is missing and we are root. When
# Postfix or swaks cannot be had or started it prints
# "postfix integration: not run (reason)" and exits 0; a wrong answer exits 1.
#
# Usage: bash examples/policyd/postfix-test.sh   (from the repository root)
set -u
cd "$(dirname "$0")/../.."

notrun() {
	echo "postfix integration: not run ($*)"
	# CI sets MTAGUARD_REQUIRE_TOOLS=1: there, not running is a failure.
	[ "${MTAGUARD_REQUIRE_TOOLS:-}" = 1 ] && exit 1
	exit 0
}
fail() {
	echo "postfix integration: FAILED: $*"
	[ -f "$tmp/maillog" ] && { echo "--- Postfix log"; tail -n 30 "$tmp/maillog"; }
	[ -f "$tmp/policyd.log" ] && { echo "--- policyd log"; tail -n 30 "$tmp/policyd.log"; }
	exit 1
}

command -v go >/dev/null || notrun "go not found"
if ! command -v postfix >/dev/null && [ ! -x /usr/sbin/postfix ]; then
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || notrun "postfix not installed, and cannot install it (not root with apt-get)"
	echo "installing postfix and swaks with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null
	{ apt-get update -qq && apt-get install -y -qq postfix swaks; } >/dev/null 2>&1 ||
		notrun "apt-get install postfix failed"
fi
if ! command -v swaks >/dev/null; then
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || notrun "swaks not installed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swaks >/dev/null 2>&1 || notrun "apt-get install swaks failed"
fi
PATH=$PATH:/usr/sbin
[ "$(id -u)" = 0 ] || notrun "a private Postfix instance must be started as root"
id postfix >/dev/null 2>&1 || notrun "no postfix user"

tmp=$(mktemp -d /tmp/mtaguard-postfix.XXXXXX)
chmod 755 "$tmp"
policyd_pid=
cleanup() {
	postfix -c "$tmp/etc" stop >/dev/null 2>&1
	[ -n "$policyd_pid" ] && kill "$policyd_pid" 2>/dev/null && wait "$policyd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1.
free_port() {
	local p
	for p in $(seq "$1" $(($1 + 100))); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}
smtp_port=$(free_port 2526) || notrun "no free port for smtpd"
policy_port=$(free_port 10041) || notrun "no free port for policyd"

go build -o "$tmp/policyd" ./examples/policyd || fail "go build ./examples/policyd"

# The sender's domain authorises 127.0.0.1, where swaks connects from.
cat >"$tmp/test.zone" <<'EOF'
$TTL 300
example.org.       SOA  ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
example.org.       MX   10 mail.example.org.
example.org.       TXT  "v=spf1 ip4:127.0.0.1 -all"
mail.example.org.  A    127.0.0.1
example.net.       SOA  ns.example.net. hostmaster.example.net. 1 7200 3600 1209600 300
example.net.       MX   10 mx.example.net.
mx.example.net.    A    127.0.0.1
example.com.       SOA  ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
EOF

delay=3
"$tmp/policyd" -listen "127.0.0.1:$policy_port" -zone "$tmp/test.zone" -hostname mx.example.net \
	-local example.net -greylist memory -grey-delay "${delay}s" -v >"$tmp/policyd.log" 2>&1 &
policyd_pid=$!

# A private Postfix instance: its own main.cf, master.cf and queue.
mkdir -p "$tmp/etc" "$tmp/spool" "$tmp/data"
chown postfix "$tmp/data"
sed -E "s/^smtp +inet .*/127.0.0.1:$smtp_port inet n - n - - smtpd/" /etc/postfix/master.cf >"$tmp/etc/master.cf"
grep -q '^postlog' "$tmp/etc/master.cf" ||
	echo "postlog unix-dgram n - n - 1 postlogd" >>"$tmp/etc/master.cf"
cat >"$tmp/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $tmp/spool
data_directory = $tmp/data
maillog_file = $tmp/maillog
maillog_file_prefixes = $tmp
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.net
mydomain = example.net
mydestination = example.net
mynetworks = 192.0.2.255/32
inet_interfaces = loopback-only
inet_protocols = ipv4
local_recipient_maps =
smtpd_helo_required = yes
smtpd_relay_restrictions = check_policy_service inet:127.0.0.1:$policy_port, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_policy_service_timeout = 30s
EOF
postfix -c "$tmp/etc" check >"$tmp/check.log" 2>&1 || notrun "postfix check failed: $(tail -n 1 "$tmp/check.log")"
postfix -c "$tmp/etc" start >"$tmp/start.log" 2>&1 || notrun "postfix did not start: $(tail -n 1 "$tmp/start.log")"

# Wait for both servers.
for i in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null &&
		(exec 3<>"/dev/tcp/127.0.0.1/$policy_port") 2>/dev/null && break
	[ "$i" = 50 ] && notrun "Postfix smtpd or policyd not listening after 10s"
	sleep 0.2
done

send() { # send FROM TO: one swaks transaction up to RCPT, output to stdout
	swaks --server "127.0.0.1:$smtp_port" --helo mail.example.org --from "$1" --to "$2" \
		--quit-after RCPT --timeout 60 2>&1
}

echo "1. relay attempt: alice@example.org -> victim@example.com"
out=$(send alice@example.org victim@example.com)
echo "$out" | grep -E '^ *<\*\* ' || true
echo "$out" | grep -qE '<\*\* 554 5\.7\.1 ' || fail "relay attempt not refused with 554 5.7.1"
grep -q 'rcpt=victim@example.com .*answer="554 5.7.1 ' "$tmp/policyd.log" || fail "the refusal did not come from policyd"

echo "2. new sender: carol@example.org -> bob@example.net"
out=$(send carol@example.org bob@example.net)
echo "$out" | grep -E '^ *<\*\* ' || true
echo "$out" | grep -qiE '<\*\* 450 4\.7\.1 .*greylist' || fail "first attempt not greylisted with 450 4.7.1"

echo "   retry after ${delay}s"
sleep $((delay + 1))
out=$(send carol@example.org bob@example.net)
echo "$out" | grep -E '^ *<- +250 .*(Ok|OK)' | tail -n 1 || true
echo "$out" | grep -qE 'RCPT TO:<bob@example.net>' && echo "$out" | grep -A1 'RCPT TO:<bob@example.net>' | grep -qE '<- +250' ||
	fail "retry after the delay not accepted"

echo "postfix integration: passed"
