#!/usr/bin/env bash
# verify-test.sh: recipient verification by examples/policyd beside Postfix's
# own reject_unverified_recipient, against the same inside server.
#
# Starts three private Postfix instances (each with its own configuration and
# queue under a temporary directory, so a system Postfix is left alone):
#   inside  127.0.0.8  receives for example.net; local_recipient_maps knows
#                      alice only, so others get 550 5.1.1;
#   policy  127.0.0.9  border MX asking policyd (check_policy_service), which
#                      runs with -verify-recipient pointing at inside;
#   postfix 127.0.0.10 border MX with Postfix's reject_unverified_recipient,
#                      relaying example.net to inside.
# Then asks both border MXs, with swaks, about alice@ and bob@example.net up
# to RCPT, and checks they answer the same: 250 for alice, 550 for bob.
#
# Prints "verify side by side: not run (reason)" and exits 0 when Postfix,
# swaks or root are missing; a different answer exits 1.
#
# Usage: bash examples/policyd/verify-test.sh   (from the repository root)
set -u
cd "$(dirname "$0")/../.."

notrun() {
	echo "verify side by side: not run ($*)"
	# CI sets MTAGUARD_REQUIRE_TOOLS=1: there, not running is a failure.
	[ "${MTAGUARD_REQUIRE_TOOLS:-}" = 1 ] && exit 1
	exit 0
}
fail() {
	echo "verify side by side: FAILED: $*"
	for f in "$tmp"/*/maillog "$tmp/policyd.log"; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
	done
	exit 1
}

command -v go >/dev/null || notrun "go not found"
PATH=$PATH:/usr/sbin
command -v postfix >/dev/null || notrun "postfix not installed"
command -v swaks >/dev/null || notrun "swaks not installed"
[ "$(id -u)" = 0 ] || notrun "private Postfix instances must be started as root"
id postfix >/dev/null 2>&1 || notrun "no postfix user"

tmp=$(mktemp -d /tmp/mtaguard-verify.XXXXXX)
chmod 755 "$tmp"
policyd_pid=
instances=
cleanup() {
	for i in $instances; do postfix -c "$tmp/$i/etc" stop >/dev/null 2>&1; done
	[ -n "$policyd_pid" ] && kill "$policyd_pid" 2>/dev/null && wait "$policyd_pid" 2>/dev/null
	sleep 0.5
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { # free_port IP FIRST
	local p
	for p in $(seq "$2" $(($2 + 100))); do
		if ! (exec 3<>"/dev/tcp/$1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}
inside_port=$(free_port 127.0.0.8 2525) || notrun "no free port"
policy_mx_port=$(free_port 127.0.0.9 2525) || notrun "no free port"
postfix_mx_port=$(free_port 127.0.0.10 2525) || notrun "no free port"
policyd_port=$(free_port 127.0.0.1 10051) || notrun "no free port"

# instance NAME ADDR:PORT HOSTNAME: a private Postfix, with the main.cf
# lines of standard input added.
instance() {
	local d="$tmp/$1"
	mkdir -p "$d/etc" "$d/spool" "$d/data"
	chown postfix "$d/data"
	sed -E "s/^smtp +inet .*/$2 inet n - n - - smtpd/" /etc/postfix/master.cf >"$d/etc/master.cf"
	grep -q '^postlog' "$d/etc/master.cf" || echo "postlog unix-dgram n - n - 1 postlogd" >>"$d/etc/master.cf"
	{
		cat <<EOF2
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
maillog_file = $d/maillog
maillog_file_prefixes = $tmp
mail_owner = postfix
setgid_group = postdrop
myhostname = $3
mydomain = $3
myorigin = $3
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
smtp_dns_support_level = disabled
mynetworks = 127.0.0.0/8
EOF2
		cat
	} >"$d/etc/main.cf"
	postfix -c "$d/etc" check >"$d/check.log" 2>&1 || notrun "postfix check ($1): $(tail -n 1 "$d/check.log")"
	postfix -c "$d/etc" start >"$d/start.log" 2>&1 || notrun "postfix start ($1): $(tail -n 1 "$d/start.log")"
	instances="$instances $1"
}

go build -o "$tmp/policyd" ./examples/policyd || fail "go build ./examples/policyd"
cat >"$tmp/test.zone" <<'EOF2'
$TTL 300
example.org.       SOA  ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
example.org.       MX   10 mail.example.org.
example.org.       TXT  "v=spf1 ip4:127.0.0.1 -all"
mail.example.org.  A    127.0.0.1
example.net.       SOA  ns.example.net. hostmaster.example.net. 1 7200 3600 1209600 300
example.net.       MX   10 mx.example.net.
mx.example.net.    A    127.0.0.9
EOF2
"$tmp/policyd" -listen "127.0.0.1:$policyd_port" -zone "$tmp/test.zone" -hostname mx.example.net \
	-relay-domains example.net -verify-recipient "127.0.0.8:$inside_port" -v >"$tmp/policyd.log" 2>&1 &
policyd_pid=$!

instance inside "127.0.0.8:$inside_port" inside.example.net <<EOF2
mydestination = example.net
local_recipient_maps = inline:{alice@example.net=ok, alice=ok}
EOF2
instance policy "127.0.0.9:$policy_mx_port" mx1.example.net <<EOF2
mydestination =
relay_domains = example.net
transport_maps = inline:{example.net=smtp:[127.0.0.8]:$inside_port}
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:$policyd_port
smtpd_policy_service_timeout = 30s
EOF2
instance postfix "127.0.0.10:$postfix_mx_port" mx2.example.net <<EOF2
mydestination =
relay_domains = example.net
transport_maps = inline:{example.net=smtp:[127.0.0.8]:$inside_port}
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_recipient_restrictions = reject_unverified_recipient
unverified_recipient_reject_code = 550
address_verify_sender =
address_verify_poll_count = 15
address_verify_poll_delay = 1s
EOF2

for i in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.8/$inside_port") 2>/dev/null &&
		(exec 3<>"/dev/tcp/127.0.0.9/$policy_mx_port") 2>/dev/null &&
		(exec 3<>"/dev/tcp/127.0.0.10/$postfix_mx_port") 2>/dev/null &&
		(exec 3<>"/dev/tcp/127.0.0.1/$policyd_port") 2>/dev/null && break
	[ "$i" = 50 ] && notrun "servers not listening after 10s"
	sleep 0.2
done

rcpt_reply() { # rcpt_reply SERVER RCPT: the reply to RCPT TO
	swaks --server "$1" --helo mail.example.org --from alice@example.org --to "$2" \
		--quit-after RCPT --timeout 60 2>&1 | grep -A1 'RCPT TO:' | grep -E '^ *<[-~*]+ +[0-9]' | sed -E 's/^ *<[-~*]+ +//'
}

for rcpt in alice@example.net:2 bob@example.net:5; do
	want=${rcpt##*:}
	rcpt=${rcpt%:*}
	ours=$(rcpt_reply "127.0.0.9:$policy_mx_port" "$rcpt")
	theirs=$(rcpt_reply "127.0.0.10:$postfix_mx_port" "$rcpt")
	echo "$rcpt"
	echo "   policyd -verify-recipient:    $ours"
	echo "   reject_unverified_recipient:  $theirs"
	[ "${ours:0:1}" = "$want" ] || fail "policyd answered $ours for $rcpt, want ${want}xx"
	[ "${theirs:0:1}" = "$want" ] || fail "Postfix answered $theirs for $rcpt, want ${want}xx"
done
echo "verify side by side: passed"
